#pragma once
// What a spatial preprocessing step did, enough to undo it: every step here
// (reorient, crop, resample) is inverted knowing only the grid it started from.
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

enum class SpatialStep { kReorient, kCrop, kResample };

/// The names in the preprocessed-case cache's index.
inline constexpr core::EnumNames<SpatialStep, 3> kSpatialStepNames{
    "spatial step", {{{SpatialStep::kReorient, "reorient"}, {SpatialStep::kCrop, "crop"}, {SpatialStep::kResample, "resample"}}}};

inline std::string to_string(SpatialStep step) { return kSpatialStepNames.name(step); }

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
