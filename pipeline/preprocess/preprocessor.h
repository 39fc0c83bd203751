#pragma once
// The preprocessing chain shared by training, inference and the GUI:
// reorient -> crop to nonzero -> normalize (per channel) -> resample.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/preprocess/normalize.h"
#include "pipeline/preprocess/resample.h"
#include "pipeline/preprocess/spatial_record.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

/// What was decided for a dataset (nnU-Net's "plans"): everything needed to
/// preprocess a new case exactly like the training cases.
struct PreprocessingPlan {
  /// Canonical orientation code, or empty to keep each input's orientation.
  std::string orientation = "RAS";
  bool crop_to_nonzero = true;
  /// Target voxel spacing in mm along the (reoriented) axes i, j, k; all
  /// zeros keeps each input's spacing.
  std::array<double, 3> target_spacing{0.0, 0.0, 0.0};
  Interpolation image_interpolation = Interpolation::kLinear;
  LabelInterpolation label_interpolation = LabelInterpolation::kPerLabelLinear;
  /// One recipe per input channel.
  std::vector<NormalizationRecipe> normalization{NormalizationRecipe{}};
};

struct PreprocessedCase {
  /// Float32 (C, D, H, W) on the preprocessed grid (geometry describes D, H, W).
  Volume image;
  /// Labels on the same grid, when labels were given.
  std::optional<Volume> labels;
  /// The spatial steps, in the order they ran.
  std::vector<SpatialRecord> records;
};

class Preprocessor {
 public:
  /// Throws ConfigError when the plan is invalid.
  explicit Preprocessor(PreprocessingPlan plan);

  /// `channels` are the input images of one case, all on the same grid.
  /// Throws IoError naming the file when channel or label grids disagree.
  PreprocessedCase operator()(const std::vector<Volume>& channels,
                              const Volume* labels = nullptr) const;

  /// Brings a prediction made on the preprocessed grid back onto the input's
  /// exact grid (size, spacing, origin, direction) by undoing `records` in
  /// reverse. Label maps: per-label linear or nearest as planned; probability
  /// maps (C, D, H, W): linear, background = 1 outside the crop.
  Volume restore(const Volume& prediction, const std::vector<SpatialRecord>& records,
                 VolumeKind kind) const;

  const PreprocessingPlan& plan() const { return plan_; }

 private:
  PreprocessingPlan plan_;
};

}  // namespace medseg::pipeline
