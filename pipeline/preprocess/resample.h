#pragma once
// Resampling volumes onto another grid (ITK ResampleImageFilter underneath).
#include <array>

#include "pipeline/volume.h"

namespace medseg::pipeline {

enum class Interpolation { kNearest, kLinear, kBSpline };

/// A grid covering the same field of view (same outer voxel corners, same
/// direction) as `grid`, with voxels of `spacing` mm. Sizes are rounded to
/// the nearest whole voxel (at least 1), the grid stays centred on the
/// original field of view.
Geometry grid_with_spacing(const Geometry& grid, const std::array<double, 3>& spacing);

/// Samples `image` at the voxel centres of `target`. Points outside the
/// image get `outside_value`.
Volume resample(const Volume& image, const Geometry& target, Interpolation interpolation,
                double outside_value = 0.0);

/// Resamples a label map without jagged edges: each label's indicator is
/// interpolated linearly and every voxel takes the label with the largest
/// value (background included), which avoids both the staircase of nearest
/// neighbour and the invented intermediate labels of plain linear.
Volume resample_labels(const Volume& labels, const Geometry& target);

}  // namespace medseg::pipeline
