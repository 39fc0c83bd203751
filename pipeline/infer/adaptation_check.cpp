#include "pipeline/infer/adaptation_check.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/body_mask.h"

namespace medseg::pipeline {
namespace {

struct Predictions {
  at::Tensor entropy;  // (N, D, H, W), normalized
  at::Tensor labels;   // (N, D, H, W) argmax
};

Predictions predict(const Predictor& network, const at::Tensor& batch) {
  const at::Tensor logits = network(batch).to(at::kFloat);
  const at::Tensor log_p = at::log_softmax(logits, 1);
  const double norm = std::log(static_cast<double>(std::max<std::int64_t>(logits.size(1), 2)));
  return {-(log_p.exp() * log_p).sum(1) / norm, logits.argmax(1)};
}

}  // namespace

AdaptationCheck check_adaptations(const Predictor& source, const std::vector<AdaptationCandidate>& candidates,
                                  const at::Tensor& image_in, const std::array<std::int64_t, 3>& patch,
                                  const AdaptationCheckOptions& options) {
  TORCH_CHECK(!candidates.empty(), "check_adaptations: no candidate");
  at::NoGradGuard no_grad;
  const at::Tensor image = pad_to_patch(image_in.to(at::kFloat), patch);
  const at::Tensor body = body_mask(image).mask;
  AdaptationOptions draw;
  draw.method = AdaptationMethod::kPrior;
  draw.windows_per_image = std::max<std::int64_t>(options.windows, 2);
  draw.body_fraction = 1.0;  // judge where the patient is
  const auto windows = adaptation_windows(image, body, patch, draw, options.seed);

  const std::size_t k = candidates.size();
  double entropy_source = 0.0, voxels = 0.0;
  std::vector<double> entropy(k, 0.0), same(k, 0.0);
  const auto n = static_cast<std::int64_t>(windows.size());
  const std::int64_t per_batch = std::max<std::int64_t>(options.windows_per_batch, 1);
  for (std::int64_t first = 0; first < n; first += per_batch) {
    const std::int64_t last = std::min(n, first + per_batch);
    std::vector<at::Tensor> inputs, masks;
    for (std::int64_t w = first; w < last; ++w) {
      const auto& win = windows[static_cast<std::size_t>(w)];
      inputs.push_back(crop_window(image, win, patch));
      masks.push_back(crop_window(body.unsqueeze(0), win, patch).squeeze(0));
    }
    const at::Tensor batch = at::stack(inputs);
    at::Tensor mask = at::stack(masks);
    if (!mask.any().item<bool>()) mask = at::ones_like(mask);
    const Predictions a = predict(source, batch);
    entropy_source += a.entropy.masked_select(mask).sum().item<double>();
    for (std::size_t c = 0; c < k; ++c) {
      const Predictions b = predict(candidates[c].predictor, batch);
      entropy[c] += b.entropy.masked_select(mask).sum().item<double>();
      same[c] += a.labels.eq(b.labels).logical_and(mask).sum().item<double>();
    }
    voxels += mask.sum().item<double>();
  }
  AdaptationCheck check;
  check.min_change = options.min_change;
  check.entropy_source = entropy_source / voxels;
  const auto passes = [&](const AdaptationCandidateScore& c) {
    return c.entropy < check.entropy_source && 1.0 - c.agreement >= options.min_change;
  };
  std::size_t lowest = 0, passing = 0;
  std::optional<std::size_t> best_passing;
  for (std::size_t c = 0; c < k; ++c) {
    check.candidates.push_back({candidates[c].name, entropy[c] / voxels, same[c] / voxels});
    const auto& score = check.candidates[c];
    if (score.entropy < check.candidates[lowest].entropy) lowest = c;
    if (!passes(score)) continue;
    ++passing;
    if (!best_passing || score.entropy < check.candidates[*best_passing].entropy) best_passing = c;
  }
  check.keep = best_passing.has_value();
  check.chosen = best_passing.value_or(lowest);
  const AdaptationCandidateScore& best = check.candidates[check.chosen];
  check.entropy_adapted = best.entropy;
  check.agreement = best.agreement;
  std::string which;
  if (k > 1) {
    which = " (" + best.name + ", the lowest entropy of " +
            (check.keep ? std::to_string(passing) + " of " + std::to_string(k) + " candidates that pass"
                        : std::to_string(k) + " candidates") +
            ")";
  }
  char buffer[400];
  if (check.keep) {
    std::snprintf(buffer, sizeof buffer,
                  "kept: the adapted statistics%s lower the mean entropy from %.4f to %.4f and relabel %.1f %% "
                  "of the body voxels",
                  which.c_str(), check.entropy_source, best.entropy, 100.0 * (1.0 - best.agreement));
  } else if (best.entropy >= check.entropy_source) {
    std::snprintf(buffer, sizeof buffer,
                  "not kept: the adapted statistics%s do not lower the mean entropy (%.4f -> %.4f)", which.c_str(),
                  check.entropy_source, best.entropy);
  } else {
    std::snprintf(buffer, sizeof buffer,
                  "not kept: the adapted statistics%s lower the mean entropy (%.4f -> %.4f) but relabel only "
                  "%.1f %% of the body voxels (at least %.1f %% needed: a small change made confident is not "
                  "evidence of a scanner shift)",
                  which.c_str(), check.entropy_source, best.entropy, 100.0 * (1.0 - best.agreement),
                  100.0 * options.min_change);
  }
  check.reason = buffer;
  return check;
}

AdaptationCheck check_adaptation(const Predictor& source, const Predictor& adapted, const at::Tensor& image,
                                 const std::array<std::int64_t, 3>& patch, const AdaptationCheckOptions& options) {
  return check_adaptations(source, {{"adapted", adapted}}, image, patch, options);
}

}  // namespace medseg::pipeline
