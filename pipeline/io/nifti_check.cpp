#include "pipeline/io/nifti_check.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

#include "models/error.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

constexpr int kNifti1HeaderSize = 348;

[[noreturn]] void fail(const fs::path& path, const std::string& reason) {
  throw IoError("cannot read '" + path.string() + "': " + reason);
}

template <typename T>
T field(const unsigned char* header, std::size_t offset, bool swap) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, header + offset, sizeof(T));
  if (swap) {
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(bytes[i], bytes[sizeof(T) - 1 - i]);
  }
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

}  // namespace

bool is_nifti_path(const fs::path& path) {
  const std::string name = path.filename().string();
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".nii") || ends_with(".nii.gz");
}

void check_nifti_file(const fs::path& path) {
  // gzopen reads plain files transparently, so one code path serves both.
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open file");
  unsigned char header[kNifti1HeaderSize];
  if (gzread(file.get(), header, kNifti1HeaderSize) != kNifti1HeaderSize) {
    fail(path, "file is shorter than a NIfTI header (truncated or not NIfTI)");
  }
  const std::int32_t size_native = field<std::int32_t>(header, 0, false);
  const std::int32_t size_swapped = field<std::int32_t>(header, 0, true);
  if (size_native != kNifti1HeaderSize && size_swapped != kNifti1HeaderSize) return;  // NIfTI-2
  const bool swap = size_native != kNifti1HeaderSize;

  std::int16_t dim[8];
  for (int i = 0; i < 8; ++i) dim[i] = field<std::int16_t>(header, 40 + 2 * i, swap);
  const std::int16_t bitpix = field<std::int16_t>(header, 72, swap);
  float pixdim[8];
  for (int i = 0; i < 8; ++i) pixdim[i] = field<float>(header, 76 + 4 * i, swap);
  const float vox_offset = field<float>(header, 108, swap);

  if (dim[0] < 1 || dim[0] > 7) fail(path, "invalid NIfTI dim[0] = " + std::to_string(dim[0]));
  static const char* kAxis[3] = {"i", "j", "k"};
  for (int d = 1; d <= std::min<int>(dim[0], 3); ++d) {
    if (!std::isfinite(pixdim[d]) || pixdim[d] <= 0.0f) {
      std::ostringstream msg;
      msg << "spacing along " << kAxis[d - 1] << " is " << pixdim[d]
          << " mm (NIfTI pixdim[" << d << "]); it must be positive";
      fail(path, msg.str());
    }
  }
  std::uint64_t voxels = 1;
  for (int d = 1; d <= dim[0]; ++d) {
    if (dim[d] < 1) fail(path, "invalid NIfTI dim[" + std::to_string(d) + "] = " + std::to_string(dim[d]));
    voxels *= static_cast<std::uint64_t>(dim[d]);
  }
  if (bitpix <= 0 || bitpix % 8 != 0) fail(path, "invalid NIfTI bitpix " + std::to_string(bitpix));
  const std::uint64_t expected = voxels * static_cast<std::uint64_t>(bitpix / 8);
  const auto data_start = static_cast<std::uint64_t>(std::max(vox_offset, 352.0f));

  const std::int16_t datatype = field<std::int16_t>(header, 70, swap);
  // ITK's reader turns NaN voxels into 0 without a word, so float data is
  // scanned here for non-finite values while counting the bytes.
  const bool is_float32 = datatype == 16, is_float64 = datatype == 64;
  std::uint64_t position = kNifti1HeaderSize;
  std::uint64_t available = 0;
  std::uint64_t non_finite = 0;
  std::vector<char> buffer(1 << 20);
  std::size_t carry = 0;  // bytes of a value split across two reads
  const std::size_t value_size = is_float64 ? 8 : 4;
  while (true) {
    const int n = gzread(file.get(), buffer.data() + carry, static_cast<unsigned>(buffer.size() - carry));
    if (n <= 0) break;
    std::size_t begin = 0;
    const std::size_t end = carry + static_cast<std::size_t>(n);
    if (position < data_start) {  // skip extensions between header and data
      const std::uint64_t skip = std::min<std::uint64_t>(data_start - position, end);
      begin = static_cast<std::size_t>(skip);
    }
    position += static_cast<std::uint64_t>(n);
    if (is_float32 || is_float64) {
      std::size_t i = begin;
      for (; i + value_size <= end; i += value_size) {
        double v;
        if (is_float32) {
          v = field<float>(reinterpret_cast<const unsigned char*>(buffer.data()), i, swap);
        } else {
          v = field<double>(reinterpret_cast<const unsigned char*>(buffer.data()), i, swap);
        }
        non_finite += std::isfinite(v) ? 0 : 1;
      }
      carry = end - i;
      std::memmove(buffer.data(), buffer.data() + i, carry);
    } else {
      carry = 0;
    }
  }
  available = position < data_start ? 0 : position - data_start;
  if (available < expected) {
    fail(path, "file is truncated: header announces " + std::to_string(expected) +
                   " bytes of voxel data, found " + std::to_string(available));
  }
  if (non_finite > 0) {
    fail(path, std::to_string(non_finite) + " voxel(s) are NaN or infinite");
  }
}

}  // namespace medseg::pipeline
