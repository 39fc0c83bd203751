#pragma once
// What a spatial preprocessing step did, enough to undo it: every step here
// (reorient, crop, resample) is inverted knowing only the grid it started from.
#include <string>
#include <vector>

#include "pipeline/volume.h"

namespace medseg::pipeline {

enum class SpatialStep { kReorient, kCrop, kResample };

/// Returns "reorient", "crop" or "resample".
std::string to_string(SpatialStep step);

struct SpatialRecord {
  SpatialStep step = SpatialStep::kReorient;
  /// The grid before the step ran.
  Geometry before;
};

/// What a volume holds; decides how it is interpolated when resampled.
enum class VolumeKind {
  kImage,         ///< intensities, interpolated (linear or B-spline)
  kLabels,        ///< integer labels
  kProbabilities  ///< per-class maps (C, D, H, W), interpolated linearly
};

}  // namespace medseg::pipeline
