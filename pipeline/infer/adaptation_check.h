#pragma once
// The label-free safety check of `--domain auto`: the source and the adapted
// statistics segment the same windows, and the adaptation is kept only when
// the signals say it helps. docs/normalization.md ("The safety check") has
// the measurements behind the rule.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

struct AdaptationCheck {
  /// Mean softmax entropy over the body voxels of the check windows, divided
  /// by log(classes) (0 = certain, 1 = uniform), with each set of statistics.
  double entropy_source = 0.0;
  double entropy_adapted = 0.0;
  /// Fraction of those voxels whose argmax is the same under both.
  double agreement = 1.0;
  /// Whether the adapted statistics are used, and why (one sentence).
  bool keep = false;
  std::string reason;
};

struct AdaptationCheckOptions {
  /// Windows drawn as adaptation draws them (adaptation_windows()).
  std::int64_t windows = 8;
  std::uint64_t seed = 1;
  std::int64_t windows_per_batch = 2;
  /// The adaptation is kept when it lowers the mean entropy by at least
  /// this much (absolute, on the 0..1 scale).
  double min_entropy_gain = 0.0;
};

/// Compares the network with the source statistics (`source`) with the
/// network with the adapted ones (`adapted`), each a Predictor from windows
/// (N, C, D, H, W) to logits (N, K, D, H, W) such as
/// folded_network_predictor(), on windows of one preprocessed float
/// (C, D, H, W) image.
AdaptationCheck check_adaptation(const Predictor& source, const Predictor& adapted, const at::Tensor& image,
                                 const std::array<std::int64_t, 3>& patch_size,
                                 const AdaptationCheckOptions& options = {});

}  // namespace medseg::pipeline
