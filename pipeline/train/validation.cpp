#include "pipeline/train/validation.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "pipeline/eval/metrics.h"
#include "pipeline/infer/predictor.h"
#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

std::vector<double> validation_dice(models::UNet3d& model, const std::vector<TrainingCase>& cases,
                                    std::int64_t num_classes, const std::array<std::int64_t, 3>& patch_size,
                                    double overlap, bool bf16) {
  model->eval();
  std::vector<double> sum(static_cast<std::size_t>(num_classes - 1), 0.0);
  std::vector<int> count(sum.size(), 0);
  SlidingWindowOptions options;
  options.patch_size = patch_size;
  options.overlap = overlap;
  for (const auto& c : cases) {
    const at::Tensor logits = sliding_window_predict(c.image, network_predictor(model, c.domain, bf16), options);
    const auto dice = dice_per_label(logits.argmax(0), c.labels.to(at::kLong), num_classes);
    for (std::size_t k = 0; k < dice.size(); ++k) {
      if (std::isnan(dice[k])) continue;
      sum[k] += dice[k];
      ++count[k];
    }
  }
  model->train();
  std::vector<double> mean(sum.size());
  for (std::size_t k = 0; k < sum.size(); ++k) {
    mean[k] = count[k] == 0 ? std::numeric_limits<double>::quiet_NaN() : sum[k] / count[k];
  }
  return mean;
}

}  // namespace medseg::pipeline
