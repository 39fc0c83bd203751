#pragma once
// Post-processing of predicted label maps.
#include <cstdint>

#include "pipeline/volume.h"

namespace medseg::pipeline {

struct PostprocessOptions {
  /// Keep only the largest connected component of every label.
  bool keep_largest_component = false;
  /// Remove components smaller than this volume (mL) from every label; 0 = off.
  double min_island_ml = 0.0;
};

/// Applies the options to each nonzero label of `labels` (removed voxels
/// become background). Same grid and dtype.
Volume postprocess_labels(const Volume& labels, const PostprocessOptions& options);

}  // namespace medseg::pipeline
