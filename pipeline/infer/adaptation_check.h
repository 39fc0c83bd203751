#pragma once
// The label-free safety check of `--domain auto`: the source and the adapted
// statistics segment the same windows, and the adaptation is kept only when
// the signals say it helps. docs/normalization.md ("The safety check") has
// the measurements behind the rule.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

/// One adapted candidate as the check saw it.
struct AdaptationCandidateScore {
  std::string name;        ///< e.g. the method, "prior"
  double entropy = 0.0;    ///< mean normalized entropy, as entropy_source
  double agreement = 1.0;  ///< share of voxels whose argmax equals the source's
};

struct AdaptationCheck {
  /// Mean softmax entropy over the body voxels of the check windows, divided
  /// by log(classes) (0 = certain, 1 = uniform), with each set of statistics;
  /// entropy_adapted and agreement are those of the chosen candidate (of the
  /// lowest-entropy one when none is kept).
  double entropy_source = 0.0;
  double entropy_adapted = 0.0;
  /// Fraction of those voxels whose argmax is the same under both.
  double agreement = 1.0;
  /// Every candidate, in the order given.
  std::vector<AdaptationCandidateScore> candidates;
  /// Index into candidates of the one chosen: the lowest entropy among those
  /// that pass both tests (lower entropy than the source's, and at least
  /// min_change of the voxels relabelled), else the lowest entropy of all;
  /// whether it is used, and why.
  std::size_t chosen = 0;
  bool keep = false;
  std::string reason;
  /// AdaptationCheckOptions::min_change as used, and where the caller took
  /// it from (Segmenter: "option", "model" or "default"; empty otherwise).
  double min_change = 0.0;
  std::string min_change_source;
};

struct AdaptationCheckOptions {
  /// Windows drawn as adaptation draws them (adaptation_windows()).
  std::int64_t windows = 8;
  std::uint64_t seed = 1;
  std::int64_t windows_per_batch = 2;
  /// A candidate is kept only when it relabels at least this fraction of the
  /// body voxels (1 - agreement): a lower entropy from an adaptation that
  /// changes few labels was confidence, not accuracy, on the scanner-shift
  /// benchmark (docs/normalization.md, "The safety check"). 0 = entropy alone.
  double min_change = 0.2;
};

/// A network with adapted statistics and its name for the report.
struct AdaptationCandidate {
  std::string name;
  Predictor predictor;
};

/// Compares the network with the source statistics (`source`) with the
/// networks with adapted ones (`candidates`, at least one), each a Predictor
/// from windows (N, C, D, H, W) to logits (N, K, D, H, W) such as
/// folded_network_predictor(), on the same windows of one preprocessed float
/// (C, D, H, W) image. A candidate is kept when it lowers the source's mean
/// entropy and relabels at least options.min_change of the voxels; of those
/// the lowest entropy wins (the first on ties).
AdaptationCheck check_adaptations(const Predictor& source, const std::vector<AdaptationCandidate>& candidates,
                                  const at::Tensor& image, const std::array<std::int64_t, 3>& patch_size,
                                  const AdaptationCheckOptions& options = {});

/// check_adaptations() with one candidate.
AdaptationCheck check_adaptation(const Predictor& source, const Predictor& adapted, const at::Tensor& image,
                                 const std::array<std::int64_t, 3>& patch_size,
                                 const AdaptationCheckOptions& options = {});

}  // namespace medseg::pipeline
