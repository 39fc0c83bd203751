#pragma once
// Intensity normalization recipes. The recipe and its dataset statistics
// travel in the model bundle so inference normalizes exactly as training did.
#include <string>
#include <string_view>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// Foreground intensity statistics of one channel over a dataset.
struct IntensityStats {
  double mean = 0.0;
  double std = 1.0;
  double min = 0.0;
  double max = 0.0;
  double median = 0.0;
  double percentile_00_5 = 0.0;
  double percentile_99_5 = 0.0;
};

/// The recipes (names as written in configs and bundles in parentheses).
enum class NormalizationKind {
  kCt,          ///< "ct"
  kZscore,      ///< "zscore"
  kWindow,      ///< "window"
  kPercentile,  ///< "percentile"
  kNone,        ///< "none"
};

/// Parses a recipe name; throws ConfigError listing the accepted names.
NormalizationKind parse_normalization_kind(std::string_view name);
std::string to_string(NormalizationKind kind);

struct NormalizationRecipe {
  /// "ct": clip to the dataset's foreground [0.5, 99.5] percentiles, then
  ///       z-score with the dataset's foreground mean and std (nnU-Net).
  /// "zscore": z-score with this volume's mean and std (inside the nonzero
  ///       mask when use_nonzero_mask; outside becomes 0).
  /// "window": clip to [window_low, window_high] (e.g. HU), map to [0, 1].
  /// "percentile": clip to this volume's [percentile_low, percentile_high]
  ///       percentiles, map to [0, 1].
  /// "none": unchanged.
  NormalizationKind kind = NormalizationKind::kZscore;
  bool use_nonzero_mask = false;
  double window_low = -1000.0;
  double window_high = 1000.0;
  double percentile_low = 0.5;   ///< in percent
  double percentile_high = 99.5; ///< in percent
  IntensityStats stats;          ///< used by "ct"
};

/// Throws ConfigError naming the problem when the recipe is invalid.
void validate(const NormalizationRecipe& recipe);

/// Percentile (0..100) of the values of `values`, interpolated linearly
/// between order statistics exactly as numpy.percentile's default.
double percentile(const at::Tensor& values, double percent);

/// Statistics of a 1D tensor of foreground values.
IntensityStats intensity_stats(const at::Tensor& values);

/// The normalization step: one recipe for a single-channel volume.
class Normalize {
 public:
  explicit Normalize(NormalizationRecipe recipe);
  /// Returns a float32 volume on the same grid.
  Volume operator()(const Volume& volume) const;
  /// The same, overwriting `voxels` (float32) instead of allocating a
  /// full-size result: for a 512x512x300 CT that is 315 MB less fresh memory.
  void in_place(at::Tensor voxels) const;
  const NormalizationRecipe& recipe() const { return recipe_; }

 private:
  NormalizationRecipe recipe_;
};

}  // namespace medseg::pipeline
