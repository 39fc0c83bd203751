#pragma once
// Writing volumes with their geometry, atomically.
#include <filesystem>
#include <string>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// Pixel type of a written file. Values are rounded and clamped to the
/// type's range for integer types.
enum class PixelType { kUInt8, kInt16, kUInt16, kInt32, kFloat32 };

/// Parses "uint8", "int16", "uint16", "int32", "float32"; throws ConfigError.
PixelType parse_pixel_type(const std::string& name);

/// Writes `volume` to `path` (.nii, .nii.gz, .nrrd or .mha, chosen by the
/// extension) with its exact geometry. The file is written under a temporary
/// name in the same folder and renamed into place, so a crash never leaves a
/// half-written file at `path`. Throws IoError.
void write_volume(const Volume& volume, const std::filesystem::path& path,
                  PixelType pixel_type = PixelType::kFloat32);

}  // namespace medseg::pipeline
