#pragma once
// Resampling volumes onto another grid (ITK ResampleImageFilter underneath).
#include <array>

#include "pipeline/preprocess/spatial_record.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

enum class Interpolation { kNearest, kLinear, kBSpline };
enum class LabelInterpolation { kNearest, kPerLabelLinear };

/// A grid covering the same field of view (same outer voxel corners, same
/// direction) as `grid`, with voxels of `spacing` mm. Sizes are rounded to
/// the nearest whole voxel (at least 1), the grid stays centred on the
/// original field of view.
Geometry grid_with_spacing(const Geometry& grid, const std::array<double, 3>& spacing);

/// Samples `image` at the voxel centres of `target`. Points outside the
/// image get `outside_value`. `image.data` may be (D, H, W) or (C, D, H, W).
Volume resample(const Volume& image, const Geometry& target, Interpolation interpolation,
                double outside_value = 0.0);

/// Resamples a label map without jagged edges: each label's indicator is
/// interpolated linearly and every voxel takes the label with the largest
/// value (background included), which avoids both the staircase of nearest
/// neighbour and the invented intermediate labels of plain linear.
/// With kNearest, plain nearest-neighbour. The result keeps the input dtype.
Volume resample_labels(const Volume& labels, const Geometry& target,
                       LabelInterpolation interpolation = LabelInterpolation::kPerLabelLinear);

/// Resamples according to what the volume holds: images with
/// `image_interpolation`, labels with `label_interpolation`, probability
/// maps linearly. Returns the input unchanged when `target` is its own grid.
Volume resample_onto(const Volume& volume, const Geometry& target, VolumeKind kind,
                     Interpolation image_interpolation = Interpolation::kLinear,
                     LabelInterpolation label_interpolation = LabelInterpolation::kPerLabelLinear);

/// The resampling preprocessing step: onto grid_with_spacing(grid, spacing).
/// Its inverse is resample_onto(volume, original_grid, kind).
class ResampleToSpacing {
 public:
  explicit ResampleToSpacing(std::array<double, 3> spacing,
                             Interpolation image_interpolation = Interpolation::kLinear,
                             LabelInterpolation label_interpolation = LabelInterpolation::kPerLabelLinear);
  Volume operator()(const Volume& volume, VolumeKind kind) const;
  const std::array<double, 3>& spacing() const { return spacing_; }

 private:
  std::array<double, 3> spacing_;
  Interpolation image_interpolation_;
  LabelInterpolation label_interpolation_;
};

}  // namespace medseg::pipeline
