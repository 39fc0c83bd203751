#include "pipeline/io/nifti_reader.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "pipeline/io/gzip_file.h"
#include "pipeline/io/read_limits.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

constexpr int kNifti1HeaderSize = 348;
constexpr std::size_t kChunkBytes = 1 << 20;  // a multiple of every voxel size
// NIfTI extensions are small (tens of kilobytes); no real file starts its
// voxels past this.
constexpr float kMaxVoxOffset = 1 << 30;
constexpr std::uint64_t kMaxTrailingSlack = 1 << 20;

[[noreturn]] void fail(const fs::path& path, const std::string& reason) {
  throw IoError("cannot read '" + path.string() + "': " + reason);
}

template <typename T>
T field(const unsigned char* bytes, std::size_t offset, bool swap) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, bytes + offset, sizeof(T));
  if (swap) std::reverse(b, b + sizeof(T));
  T value;
  std::memcpy(&value, b, sizeof(T));
  return value;
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile open_file(const fs::path& path) {
  // gzopen reads plain files transparently, so one code path serves both.
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open file");
  gzbuffer(file.get(), 1 << 18);  // zlib's 8 KiB default costs ~10 % here
  return file;
}

// Reads up to `bytes` bytes; fewer only at the end of the (decompressed) file.
std::uint64_t read_bytes(gzFile_s* file, void* destination, std::uint64_t bytes) {
  auto* out = static_cast<unsigned char*>(destination);
  std::uint64_t done = 0;
  while (done < bytes) {
    const auto want = static_cast<unsigned>(std::min<std::uint64_t>(bytes - done, INT_MAX / 2));
    const int n = gzread(file, out + done, want);
    if (n <= 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  return done;
}

struct Header {
  bool swap = false;
  std::int16_t datatype = 0;
  std::int16_t bitpix = 0;
  float scl_slope = 0.0f, scl_inter = 0.0f;
  std::uint64_t voxels = 1;
  std::uint64_t data_start = 352;
  std::uint64_t data_bytes() const { return voxels * static_cast<std::uint64_t>(bitpix / 8); }
};

// The transforms the header declares (qform_code / sform_code > 0) must be
// usable as they are. ITK would quietly fall back to another one or to an
// identity (VNL printing its SVD failure on stderr meanwhile) and the
// volume would be placed wrongly without a word.
// Finite is not enough either: ITK takes the SVD of the transform in single
// precision (vnl_svd<float> in NiftiImageIO::SetImageIOOrientationFromNIfTI),
// and with an offset of -2e38 mm its LINPACK loop (ssvdc) never ends (found
// by fuzz/targets/fuzz_nifti.cpp). No scanner places a voxel a kilometre
// away, so positions and spacings beyond kMaxMillimetres are refused.
constexpr double kMaxMillimetres = 1e6;

void check_orientation(const unsigned char* raw, bool swap, const fs::path& path) {
  const auto qform_code = field<std::int16_t>(raw, 252, swap);
  const auto sform_code = field<std::int16_t>(raw, 254, swap);
  if (qform_code > 0) {
    for (int i = 0; i < 6; ++i) {  // quatern_b, c, d, qoffset_x, y, z
      const float v = field<float>(raw, 256 + 4 * i, swap);
      if (!std::isfinite(v)) {
        fail(path, "qform (quatern_b/c/d, qoffset) holds a non-finite value; the orientation is unknown");
      }
      if (std::abs(v) > kMaxMillimetres) {
        std::ostringstream msg;
        msg << "qform (quatern_b/c/d, qoffset) holds " << v << ", beyond +-1e6 (mm); the orientation is unknown";
        fail(path, msg.str());
      }
    }
  }
  if (sform_code > 0) {
    double m[3][4];
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 4; ++c) {
        m[r][c] = field<float>(raw, 280 + 16 * r + 4 * c, swap);
        if (!std::isfinite(m[r][c])) fail(path, "sform (srow_x/y/z) holds a non-finite value; the orientation is unknown");
        if (std::abs(m[r][c]) > kMaxMillimetres) {
          std::ostringstream msg;
          msg << "sform (srow_x/y/z) holds " << m[r][c] << " mm, beyond +-1e6 mm; the orientation is unknown";
          fail(path, msg.str());
        }
      }
    }
    const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                       m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                       m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double scale = 0.0;  // relative to the axes' lengths, so small voxels pass
    for (int c = 0; c < 3; ++c) {
      double len = 0.0;
      for (int r = 0; r < 3; ++r) len += m[r][c] * m[r][c];
      scale = c == 0 ? std::sqrt(len) : scale * std::sqrt(len);
    }
    if (!(std::abs(det) > 1e-6 * scale) || scale == 0.0) {
      std::ostringstream msg;
      msg << "sform (srow_x/y/z) is singular (determinant " << det << "); the orientation is unknown";
      fail(path, msg.str());
    }
  }
}

// Reads and validates a NIfTI-1 header; nothing for NIfTI-2 (ITK checks it).
std::optional<Header> read_header(gzFile_s* file, const fs::path& path) {
  unsigned char raw[kNifti1HeaderSize];
  if (read_bytes(file, raw, kNifti1HeaderSize) != kNifti1HeaderSize) {
    fail(path, "file is shorter than a NIfTI header (truncated or not NIfTI)");
  }
  Header h;
  const auto size_native = field<std::int32_t>(raw, 0, false);
  const auto size_swapped = field<std::int32_t>(raw, 0, true);
  if (size_native != kNifti1HeaderSize && size_swapped != kNifti1HeaderSize) {
    // ITK's niftilib reads any file whose magic at byte 344 passes its
    // NIFTI_VERSION test ("n+1", "ni1", "n+2", ... "n+9") as a NIfTI-1
    // header, whatever sizeof_hdr says; unchecked, an infinite srow value
    // then aborted the process in VNL (found by fuzz/targets/fuzz_nifti.cpp).
    const unsigned char* magic = raw + 344;
    if (magic[0] == 'n' && (magic[1] == '+' || magic[1] == 'i') && magic[2] >= '1' && magic[2] <= '9' &&
        magic[3] == '\0') {
      fail(path, "invalid NIfTI-1 header: sizeof_hdr is " + std::to_string(size_native) + ", not 348");
    }
    return std::nullopt;
  }
  h.swap = size_native != kNifti1HeaderSize;
  std::int16_t dim[8];
  for (int i = 0; i < 8; ++i) dim[i] = field<std::int16_t>(raw, 40 + 2 * i, h.swap);
  h.datatype = field<std::int16_t>(raw, 70, h.swap);
  h.bitpix = field<std::int16_t>(raw, 72, h.swap);
  float pixdim[8];
  for (int i = 0; i < 8; ++i) pixdim[i] = field<float>(raw, 76 + 4 * i, h.swap);
  const float vox_offset = field<float>(raw, 108, h.swap);
  h.scl_slope = field<float>(raw, 112, h.swap);
  h.scl_inter = field<float>(raw, 116, h.swap);

  if (dim[0] < 1 || dim[0] > 7) fail(path, "invalid NIfTI dim[0] = " + std::to_string(dim[0]));
  static const char* kAxis[3] = {"i", "j", "k"};
  for (int d = 1; d <= std::min<int>(dim[0], 3); ++d) {
    if (!std::isfinite(pixdim[d]) || pixdim[d] <= 0.0f || pixdim[d] > kMaxMillimetres) {
      std::ostringstream msg;
      msg << "spacing along " << kAxis[d - 1] << " is " << pixdim[d] << " mm (NIfTI pixdim[" << d
          << "]); it must be positive" << (pixdim[d] > kMaxMillimetres ? " and at most 1e6 mm" : "");
      fail(path, msg.str());
    }
  }
  check_orientation(raw, h.swap, path);
  std::vector<std::uint64_t> sizes;
  for (int d = 1; d <= dim[0]; ++d) {
    if (dim[d] < 1) fail(path, "invalid NIfTI dim[" + std::to_string(d) + "] = " + std::to_string(dim[d]));
    sizes.push_back(static_cast<std::uint64_t>(dim[d]));
  }
  check_voxel_count(path, sizes);  // before anything is sized by the header
  for (const std::uint64_t size : sizes) h.voxels *= size;
  if (h.bitpix <= 0 || h.bitpix % 8 != 0) fail(path, "invalid NIfTI bitpix " + std::to_string(h.bitpix));
  if (!std::isfinite(vox_offset) || vox_offset > kMaxVoxOffset) {
    std::ostringstream msg;
    msg << "invalid NIfTI vox_offset " << vox_offset << " (voxel data must start within the first "
        << kMaxVoxOffset / (1 << 20) << " MiB)";
    fail(path, msg.str());
  }
  h.data_start = static_cast<std::uint64_t>(std::max(vox_offset, 352.0f));
  return h;
}

// Skips the extensions between the header and the voxels, a chunk at a time
// (vox_offset is a claim of the header too).
void skip_to_data(gzFile_s* file, const Header& h) {
  std::vector<unsigned char> skip(std::min<std::uint64_t>(h.data_start - kNifti1HeaderSize, kChunkBytes));
  for (std::uint64_t left = h.data_start - kNifti1HeaderSize; left > 0;) {
    const std::uint64_t n = read_bytes(file, skip.data(), std::min<std::uint64_t>(left, skip.size()));
    if (n == 0) break;
    left -= n;
  }
}

// More decompressed bytes after the voxels than this is not slack but a
// decompression bomb (or not the file its header describes).
std::uint64_t max_trailing_bytes(const Header& h) { return h.data_bytes() + kMaxTrailingSlack; }

[[noreturn]] void fail_bomb(const fs::path& path, const Header& h) {
  fail(path, "decompresses to more than twice the " + std::to_string(h.data_bytes()) +
                 " bytes of voxel data its header announces (a decompression bomb, or a damaged header)");
}

// Reads (and drops) what follows the voxel data, up to the bound.
std::uint64_t count_trailing(gzFile_s* file, const Header& h) {
  std::vector<unsigned char> chunk(kChunkBytes);
  std::uint64_t trailing = 0;
  while (trailing <= max_trailing_bytes(h)) {
    const std::uint64_t n = read_bytes(file, chunk.data(), chunk.size());
    trailing += n;
    if (n < chunk.size()) break;
  }
  return trailing;
}

[[noreturn]] void fail_truncated(const fs::path& path, std::uint64_t expected, std::uint64_t found) {
  fail(path, "file is truncated: header announces " + std::to_string(expected) + " bytes of voxel data, found " +
                 std::to_string(found));
}

[[noreturn]] void fail_non_finite(const fs::path& path, std::uint64_t count) {
  fail(path, std::to_string(count) + " voxel(s) are NaN or infinite");
}

// Scaling applies when the slope is neither 0 nor 1 or the intercept is not
// 0 (ITK's NiftiImageIO::MustRescale); a slope of 0 or a non-finite one
// means the voxels are stored unscaled (NIfTI-1 standard, nibabel), where
// ITK 5.2 would still add the intercept.
struct Scaling {
  bool rescale = false;
  double slope = 1.0, intercept = 0.0;
};

Scaling scaling_of(const Header& h) {
  Scaling s;
  const double slope = std::isfinite(h.scl_slope) ? h.scl_slope : 0.0;
  const double intercept = std::isfinite(h.scl_inter) ? h.scl_inter : 0.0;
  constexpr double eps = std::numeric_limits<double>::epsilon();
  s.rescale = std::abs(slope) > eps && (std::abs(slope - 1.0) > eps || std::abs(intercept) > eps);
  s.slope = slope;
  s.intercept = intercept;
  return s;
}

// Converts `count` stored values to float the way ITK does: integers are
// cast to float before scaling (NiftiImageIO promotes them to a float
// buffer), float32 / float64 are scaled in double; the result is cast to
// float (ImageFileReader). Returns how many results are not finite.
template <typename T>
std::uint64_t convert(const unsigned char* bytes, std::size_t count, bool swap, const Scaling& s, float* out) {
  std::uint64_t non_finite = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const T raw = field<T>(bytes, i * sizeof(T), swap);
    float value;
    if (!s.rescale) {
      value = static_cast<float>(raw);
    } else if constexpr (std::is_integral_v<T>) {
      value = static_cast<float>(static_cast<double>(static_cast<float>(raw)) * s.slope + s.intercept);
    } else {
      value = static_cast<float>(static_cast<double>(raw) * s.slope + s.intercept);
    }
    if constexpr (std::is_floating_point_v<T>) non_finite += std::isfinite(value) ? 0 : 1;
    else if (s.rescale) non_finite += std::isfinite(value) ? 0 : 1;
    out[i] = value;
  }
  return non_finite;
}

using Converter = std::uint64_t (*)(const unsigned char*, std::size_t, bool, const Scaling&, float*);

// The converter for a NIfTI datatype code whose bitpix agrees; nullptr for
// codes read_nifti_voxels() leaves to ITK.
Converter converter_for(const Header& h) {
  const auto bits = [&](std::size_t bytes) { return h.bitpix == static_cast<std::int16_t>(8 * bytes); };
  switch (h.datatype) {
    case 2: return bits(1) ? &convert<std::uint8_t> : nullptr;
    case 256: return bits(1) ? &convert<std::int8_t> : nullptr;
    case 4: return bits(2) ? &convert<std::int16_t> : nullptr;
    case 512: return bits(2) ? &convert<std::uint16_t> : nullptr;
    case 8: return bits(4) ? &convert<std::int32_t> : nullptr;
    case 768: return bits(4) ? &convert<std::uint32_t> : nullptr;
    case 1024: return bits(8) ? &convert<std::int64_t> : nullptr;
    case 1280: return bits(8) ? &convert<std::uint64_t> : nullptr;
    case 16: return bits(4) ? &convert<float> : nullptr;
    case 64: return bits(8) ? &convert<double> : nullptr;
    default: return nullptr;
  }
}

// The ATen type of a NIfTI datatype code that ATen converts to float by a
// plain cast (as ITK does), for the multi-threaded path.
std::optional<at::ScalarType> aten_type(const Header& h) {
  switch (h.datatype) {
    case 2: return at::kByte;
    case 256: return at::kChar;
    case 4: return at::kShort;
    case 8: return at::kInt;
    case 1024: return at::kLong;
    case 16: return at::kFloat;
    case 64: return at::kDouble;
    default: return std::nullopt;
  }
}

bool is_gzip(const fs::path& path) {
  unsigned char magic[2] = {0, 0};
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(magic), 2);
  return magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

void refuse_non_finite(const fs::path& path, const at::Tensor& voxels) {
  // min/max propagate NaN and expose +-Inf: one cheap pass, a count only on failure.
  const auto [lo, hi] = at::aminmax(voxels);
  if (!std::isfinite(lo.item<float>()) || !std::isfinite(hi.item<float>())) {
    fail_non_finite(path, static_cast<std::uint64_t>((~at::isfinite(voxels)).sum().item<std::int64_t>()));
  }
}

bool is_nifti_path(const fs::path& path) {
  const std::string name = path.filename().string();
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".nii") || ends_with(".nii.gz");
}

void check_nifti_header(const fs::path& path) {
  GzFile file = open_file(path);
  read_header(file.get(), path);
}

void check_nifti_file(const fs::path& path) {
  GzFile file = open_file(path);
  const std::optional<Header> h = read_header(file.get(), path);
  if (!h) return;  // NIfTI-2
  skip_to_data(file.get(), *h);
  const bool is_float32 = h->datatype == 16 && h->bitpix == 32;
  const bool is_float64 = h->datatype == 64 && h->bitpix == 64;
  std::vector<unsigned char> chunk(kChunkBytes);
  std::vector<float> scratch(kChunkBytes / 4);
  std::uint64_t available = 0, non_finite = 0;
  while (true) {
    const std::uint64_t n = read_bytes(file.get(), chunk.data(), chunk.size());
    available += n;
    if (available > h->data_bytes() + max_trailing_bytes(*h)) fail_bomb(path, *h);
    if (is_float32) non_finite += convert<float>(chunk.data(), n / 4, h->swap, Scaling{}, scratch.data());
    if (is_float64) non_finite += convert<double>(chunk.data(), n / 8, h->swap, Scaling{}, scratch.data());
    if (n < chunk.size()) break;
  }
  if (available < h->data_bytes()) fail_truncated(path, h->data_bytes(), available);
  if (non_finite > 0) fail_non_finite(path, non_finite);
}

std::optional<at::Tensor> read_nifti_voxels(const fs::path& path, const std::array<std::int64_t, 3>& size) {
  GzFile file = open_file(path);
  const std::optional<Header> h = read_header(file.get(), path);
  if (!h) return std::nullopt;
  const Converter convert_chunk = converter_for(*h);
  const auto voxels = static_cast<std::uint64_t>(size[0] * size[1] * size[2]);
  if (convert_chunk == nullptr || h->voxels != voxels) return std::nullopt;
  skip_to_data(file.get(), *h);

  at::Tensor out = at::empty({size[2], size[1], size[0]}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const Scaling scaling = scaling_of(*h);
  // .nii.gz: inflated whole by libdeflate; if that fails (truncated, corrupt,
  // trailing bytes) the streaming zlib path below says what is wrong.
  if (is_gzip(path)) {
    if (std::optional<at::Tensor> whole = inflate_gzip_file(path, h->data_start + h->data_bytes())) {
      const std::uint8_t* raw = whole->data_ptr<std::uint8_t>() + h->data_start;
      const std::optional<at::ScalarType> type = aten_type(*h);
      const bool aligned = reinterpret_cast<std::uintptr_t>(raw) % static_cast<std::uintptr_t>(h->bitpix / 8) == 0;
      if (type && aligned && !h->swap && !scaling.rescale) {
        // A plain cast, as ITK's reader does, on every thread.
        out.copy_(at::from_blob(const_cast<std::uint8_t*>(raw), out.sizes(), *type));
        if (at::isFloatingType(*type)) {
          refuse_non_finite(path, out);
        }
        return out;
      }
      const std::uint64_t non_finite =
          convert_chunk(raw, static_cast<std::size_t>(h->voxels), h->swap, scaling, dst);
      if (non_finite > 0) fail_non_finite(path, non_finite);
      return out;
    }
  }
  const std::uint64_t value_bytes = static_cast<std::uint64_t>(h->bitpix / 8);
  const std::uint64_t expected = h->data_bytes();
  std::uint64_t available = 0;
  if (h->datatype == 16 && !h->swap && !scaling.rescale) {
    // Stored as native float32: decompress straight into the result.
    available = read_bytes(file.get(), dst, expected);
    if (available < expected) fail_truncated(path, expected, available);
    if (count_trailing(file.get(), *h) > max_trailing_bytes(*h)) fail_bomb(path, *h);
    refuse_non_finite(path, out);
    return out;
  }
  std::vector<unsigned char> chunk(kChunkBytes);
  std::uint64_t non_finite = 0;
  while (available < expected) {
    const std::uint64_t want = std::min<std::uint64_t>(chunk.size(), expected - available);
    const std::uint64_t n = read_bytes(file.get(), chunk.data(), want);
    non_finite += convert_chunk(chunk.data(), static_cast<std::size_t>(n / value_bytes), h->swap, scaling,
                                dst + available / value_bytes);
    available += n;
    if (n < want) break;
  }
  if (available < expected) fail_truncated(path, expected, available);
  if (count_trailing(file.get(), *h) > max_trailing_bytes(*h)) fail_bomb(path, *h);
  if (non_finite > 0) fail_non_finite(path, non_finite);
  return out;
}

}  // namespace medseg::pipeline
