#pragma once
// Reorientation by axis permutation and flips only: exact, no interpolation.
#include <array>
#include <optional>
#include <string>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// Permutation and flips taking a grid to a target orientation code.
struct AxisMapping {
  /// New index axis a takes old index axis `source[a]`.
  std::array<int, 3> source{0, 1, 2};
  /// New axis a runs opposite to old axis source[a].
  std::array<bool, 3> flip{false, false, false};
};

/// Mapping that brings `grid` to `code` (e.g. "RAS", "LPS"; letters as in
/// orientation_code()). Throws ConfigError for an invalid code.
AxisMapping axis_mapping_to(const Geometry& grid, const std::string& code);

/// Applies a mapping to the voxels and the geometry. `volume.data` may be
/// (D, H, W) or (C, D, H, W). The world position of every voxel is unchanged.
Volume apply_axis_mapping(const Volume& volume, const AxisMapping& mapping);

/// `volume` re-indexed onto `grid` when both hold the same voxel centres in
/// another axis order or direction (e.g. a left-handed NIfTI grid and the
/// right-handed grid ITK gives its DICOM series): exact, by permutation and
/// flips. nullopt when the voxel centres differ (checked with
/// grid_difference's default tolerances).
std::optional<Volume> same_voxels_on_grid(const Volume& volume, const Geometry& grid);

/// Reorients volumes to a canonical orientation code (default "RAS", as
/// MONAI's Orientation and nibabel's as_closest_canonical).
class Reorient {
 public:
  explicit Reorient(std::string code = "RAS");
  Volume operator()(const Volume& volume) const;
  /// Brings `volume` back onto the grid `original` it was reoriented from.
  static Volume inverse(const Volume& volume, const Geometry& original);
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

}  // namespace medseg::pipeline
