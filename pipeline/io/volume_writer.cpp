#include "pipeline/io/volume_writer.h"

#include <ATen/ATen.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "models/error.h"
#include "pipeline/io/itk_image.h"
#include "pipeline/io/itk_messages.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& reason) {
  throw IoError("cannot write '" + path.string() + "': " + reason);
}

// The full extension medseg recognises (".nii.gz" counts as one).
std::string image_extension(const fs::path& path) {
  const std::string name = path.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return e;
  }
  return {};
}

template <typename T>
void write_typed(const Volume& volume, const fs::path& path) {
  using Image = itk::Image<T, 3>;
  auto image = Image::New();
  itk_bridge::apply_geometry(volume.geometry, *image);
  image->Allocate();
  const at::ScalarType st = std::is_same_v<T, std::uint8_t>    ? at::kByte
                            : std::is_same_v<T, std::int16_t>  ? at::kShort
                            : std::is_same_v<T, std::int32_t>  ? at::kInt
                            : std::is_same_v<T, std::uint16_t> ? at::kInt  // no uint16 in ATen
                                                               : at::kFloat;
  at::Tensor converted;
  if (volume.data.scalar_type() == st && !std::is_same_v<T, std::uint16_t>) {
    converted = volume.data.contiguous();
  } else if (std::numeric_limits<T>::is_integer && at::isIntegralType(volume.data.scalar_type(), false)) {
    // Integer to integer (a label map): clamp in int32, no double copy of
    // a full-size volume.
    converted = volume.data.to(at::kInt)
                    .clamp(static_cast<std::int64_t>(std::numeric_limits<T>::lowest()),
                           static_cast<std::int64_t>(std::numeric_limits<T>::max()))
                    .to(st)
                    .contiguous();
  } else {
    at::Tensor data = volume.data.to(at::kDouble);
    if constexpr (std::numeric_limits<T>::is_integer) {
      data = data.round().clamp(static_cast<double>(std::numeric_limits<T>::lowest()),
                                static_cast<double>(std::numeric_limits<T>::max()));
    }
    converted = data.to(st).contiguous();
  }
  const auto n = static_cast<std::size_t>(volume.geometry.num_voxels());
  if constexpr (std::is_same_v<T, std::uint16_t>) {
    const auto* src = converted.data_ptr<std::int32_t>();
    T* dst = image->GetBufferPointer();
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
  } else {
    std::memcpy(image->GetBufferPointer(), converted.data_ptr(), n * sizeof(T));
  }
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
  if (ext.empty()) fail(path, "unsupported extension (use .nii, .nii.gz, .nrrd or .mha)");
  const auto& g = volume.geometry;
  if (!volume.data.defined() || volume.data.dim() != 3 || volume.data.size(0) != g.size[2] ||
      volume.data.size(1) != g.size[1] || volume.data.size(2) != g.size[0]) {
    fail(path, "voxel data does not match the volume's size");
  }
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail(path, "folder '" + folder.string() + "' does not exist");

  // Same folder (so rename is atomic), same extension (so ITK picks the format).
  const std::string stem = path.filename().string().substr(0, path.filename().string().size() - ext.size());
  const fs::path temp = folder / ("." + stem + ".partial-" + std::to_string(::getpid()) + ext);
  try {
    switch (pixel_type) {
      case PixelType::kUInt8: write_typed<std::uint8_t>(volume, temp); break;
      case PixelType::kInt16: write_typed<std::int16_t>(volume, temp); break;
      case PixelType::kUInt16: write_typed<std::uint16_t>(volume, temp); break;
      case PixelType::kInt32: write_typed<std::int32_t>(volume, temp); break;
      case PixelType::kFloat32: write_typed<float>(volume, temp); break;
    }
  } catch (const itk::ExceptionObject& e) {
    fs::remove(temp, ec);
    fail(path, itk_messages::one_line(e));
  }
  fs::rename(temp, path, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    fail(path, "could not move the finished file into place: " + reason);
  }
}

}  // namespace medseg::pipeline
