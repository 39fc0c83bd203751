#pragma once
// Cropping to the bounding box of nonzero voxels, and padding back.
#include <array>
#include <cstdint>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// Half-open voxel box [start, stop) along index axes i, j, k.
struct BoundingBox {
  std::array<std::int64_t, 3> start{0, 0, 0};
  std::array<std::int64_t, 3> stop{0, 0, 0};
  bool empty() const;
};

/// Box of the voxels that are nonzero in any channel; `data` is (D, H, W) or
/// (C, D, H, W). An all-zero volume gives the whole grid (nothing to crop).
BoundingBox nonzero_bounding_box(const at::Tensor& data);

/// Crops to `box`; the origin moves so every kept voxel keeps its world position.
Volume crop(const Volume& volume, const BoundingBox& box);

/// Crops images to their nonzero bounding box (nnU-Net's first step).
class CropToNonzero {
 public:
  Volume operator()(const Volume& volume) const { return crop(volume, nonzero_bounding_box(volume.data)); }
  /// Pads `volume` back onto `original` (the grid before cropping), filling
  /// the cut-away border with `fill`. Throws ModelError when `volume` does
  /// not lie on `original`'s lattice.
  static Volume inverse(const Volume& volume, const Geometry& original, double fill = 0.0);
};

}  // namespace medseg::pipeline
