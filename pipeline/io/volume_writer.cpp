#include "pipeline/io/volume_writer.h"

#include <ATen/ATen.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>

#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "pipeline/io/gzip_file.h"
#include "pipeline/io/detail/itk_image.h"
#include "pipeline/io/detail/itk_messages.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

// The full extension medseg recognises (".nii.gz" counts as one).
std::string image_extension(const fs::path& path) {
  const std::string name = path.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return e;
  }
  return {};
}

// The voxels as T (rounded and clamped to T's range), contiguous; uint16
// (no ATen type) is returned as int16 storage holding the uint16 bits.
template <typename T>
at::Tensor voxels_as(const at::Tensor& data) {
  constexpr bool is_uint16 = std::is_same_v<T, std::uint16_t>;
  const at::ScalarType st = std::is_same_v<T, std::uint8_t>   ? at::kByte
                            : std::is_same_v<T, std::int16_t> ? at::kShort
                            : std::is_same_v<T, std::int32_t> ? at::kInt
                            : is_uint16                       ? at::kInt
                                                              : at::kFloat;
  at::Tensor converted;
  if (data.scalar_type() == st && !is_uint16) {
    converted = data.contiguous();
  } else if (std::numeric_limits<T>::is_integer && at::isIntegralType(data.scalar_type(), false)) {
    // Integer to integer (a label map): clamp only if something is out of
    // range, so the usual case is one conversion pass, no wider copy.
    const auto lo = static_cast<std::int64_t>(std::numeric_limits<T>::lowest());
    const auto hi = static_cast<std::int64_t>(std::numeric_limits<T>::max());
    const auto [min, max] = at::aminmax(data);
    const bool in_range = min.item<std::int64_t>() >= lo && max.item<std::int64_t>() <= hi;
    converted = (in_range ? data : data.to(at::kLong).clamp(lo, hi)).to(st).contiguous();
  } else {
    at::Tensor wide = data.to(at::kDouble);
    if constexpr (std::numeric_limits<T>::is_integer) {
      wide = wide.round().clamp(static_cast<double>(std::numeric_limits<T>::lowest()),
                                static_cast<double>(std::numeric_limits<T>::max()));
    }
    converted = wide.to(st).contiguous();
  }
  if constexpr (is_uint16) {
    at::Tensor bits = at::empty(converted.sizes(), at::kShort);
    const auto* src = converted.data_ptr<std::int32_t>();
    auto* dst = reinterpret_cast<std::uint16_t*>(bits.data_ptr<std::int16_t>());
    for (std::int64_t i = 0, n = converted.numel(); i < n; ++i) dst[i] = static_cast<std::uint16_t>(src[i]);
    return bits;
  }
  return converted;
}

template <typename T>
void write_typed(const Volume& volume, const fs::path& path) {
  using Image = itk::Image<T, 3>;
  const at::Tensor voxels = voxels_as<T>(volume.data);
  // ITK writes straight from the tensor's memory (no second copy).
  auto image = Image::New();
  itk_bridge::apply_geometry(volume.geometry, *image);
  image->GetPixelContainer()->SetImportPointer(static_cast<T*>(voxels.data_ptr()),
                                               static_cast<itk::SizeValueType>(voxels.numel()),
                                               /*LetContainerManageMemory=*/false);
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetFileName(path.string());
  writer->SetInput(image);
  writer->SetUseCompression(true);
  writer->Update();
}

}  // namespace

PixelType parse_pixel_type(const std::string& name) {
  if (name == "uint8") return PixelType::kUInt8;
  if (name == "int16") return PixelType::kInt16;
  if (name == "uint16") return PixelType::kUInt16;
  if (name == "int32") return PixelType::kInt32;
  if (name == "float32") return PixelType::kFloat32;
  throw ConfigError("unknown pixel type '" + name +
                    "' (expected uint8, int16, uint16, int32 or float32)");
}

void write_volume(const Volume& volume, const fs::path& path, PixelType pixel_type) {
  itk_messages::silence_itk_warnings();
  const std::string ext = image_extension(path);
  if (ext.empty()) core::fail_to_write(path, "unsupported extension (use .nii, .nii.gz, .nrrd or .mha)");
  const auto& g = volume.geometry;
  if (!volume.data.defined() || volume.data.dim() != 3 || volume.data.size(0) != g.size[2] ||
      volume.data.size(1) != g.size[1] || volume.data.size(2) != g.size[0]) {
    core::fail_to_write(path, "voxel data does not match the volume's size");
  }
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) core::fail_to_write(path, "folder '" + folder.string() + "' does not exist");

  // The temporary keeps the extension, so ITK picks the format from it.
  core::write_file_atomically(
      path,
      [&](const fs::path& temp) {
        // .nii.gz: ITK writes a plain .nii, libdeflate compresses it (ITK's
        // zlib at its fixed level took ~0.5 s for a 512x512x300 label map,
        // this ~0.15 s).
        const bool gzip = ext == ".nii.gz";
        const std::string name = path.filename().string();
        const fs::path plain = folder / (name.substr(0, name.size() - ext.size()) + ".nii");
        const fs::path itk_file = gzip ? core::temporary_sibling(plain, ".nii") : temp;
        try {
          switch (pixel_type) {
            case PixelType::kUInt8: write_typed<std::uint8_t>(volume, itk_file); break;
            case PixelType::kInt16: write_typed<std::int16_t>(volume, itk_file); break;
            case PixelType::kUInt16: write_typed<std::uint16_t>(volume, itk_file); break;
            case PixelType::kInt32: write_typed<std::int32_t>(volume, itk_file); break;
            case PixelType::kFloat32: write_typed<float>(volume, itk_file); break;
          }
          if (gzip) gzip_file(itk_file, temp);
        } catch (const itk::ExceptionObject& e) {
          fs::remove(itk_file, ec);
          core::fail_to_write(path, itk_messages::one_line(e));
        } catch (...) {
          fs::remove(itk_file, ec);
          throw;
        }
        if (gzip) fs::remove(itk_file, ec);
      },
      ext);
}

}  // namespace medseg::pipeline
