#pragma once
// A 3D image with the geometry it was acquired in. Everything above
// pipeline/io and pipeline/preprocess sees Volumes, never ITK images.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace medseg::pipeline {

/// Where the voxels sit in the world, in ITK's LPS convention (x to the
/// patient's Left, y to Posterior, z to Superior), millimetres throughout.
struct Geometry {
  /// Voxels along index axes i, j, k (ITK order: i varies fastest in memory).
  std::array<std::int64_t, 3> size{0, 0, 0};
  /// Distance between voxel centres along i, j, k, in mm.
  std::array<double, 3> spacing{1.0, 1.0, 1.0};
  /// World position (mm, LPS) of the centre of voxel (0, 0, 0).
  std::array<double, 3> origin{0.0, 0.0, 0.0};
  /// Row-major 3x3 direction cosines; column c is the world direction of
  /// index axis c (ITK's Image::GetDirection()).
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};

  double direction_at(int row, int col) const { return direction[row * 3 + col]; }
  /// World position (mm, LPS) of a continuous index (i, j, k).
  std::array<double, 3> index_to_world(const std::array<double, 3>& index) const;
  std::int64_t num_voxels() const { return size[0] * size[1] * size[2]; }
};

/// Acquisition details read from DICOM headers (empty when unknown).
struct VolumeMetadata {
  std::string modality;
  std::string manufacturer;
  std::string model;
  std::string series_description;
  std::string series_uid;
  /// DICOM Window Center / Width (0028,1050 / 0028,1051), the first value of
  /// each, in the values read (after the rescale, e.g. HU); absent when the
  /// file has none or they are not finite with width > 0.
  std::optional<double> window_center;
  std::optional<double> window_width;
};

/// Voxel data plus geometry. `data` is float32 shaped (D, H, W) =
/// (size[2], size[1], size[0]), i.e. the same memory order as ITK.
struct Volume {
  at::Tensor data;
  Geometry geometry;
  std::string source_path;
  /// Pixel type stored in the source file, e.g. "int16", "uint8", "float32".
  std::string pixel_type;
  VolumeMetadata metadata;
};

}  // namespace medseg::pipeline
