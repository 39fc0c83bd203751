#include "models/losses.h"

#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

#include "models/check.h"

namespace medseg::models {

torch::Tensor soft_dice(const torch::Tensor& logits, const torch::Tensor& target, const DiceCeOptions& o) {
  MEDSEG_CHECK(logits.dim() == 5 && target.dim() == 4 && logits.size(0) == target.size(0) &&
                  logits.sizes().slice(2) == target.sizes().slice(1),
              "soft_dice expects logits (N, K, D, H, W) and target (N, D, H, W), got ", logits.sizes(), " and ",
              target.sizes());
  const int64_t k = logits.size(1);
  MEDSEG_CHECK(k >= 2, "soft_dice needs at least 2 classes (background + foreground), got ", k);
  const torch::Tensor probs = torch::softmax(logits.to(torch::kFloat), 1);
  torch::Tensor t = target;
  torch::Tensor valid;
  if (o.ignore_index) {
    valid = (target != *o.ignore_index).unsqueeze(1).to(torch::kFloat);
    t = torch::where(target == *o.ignore_index, torch::zeros_like(target), target);
  }
  const torch::Tensor onehot = torch::one_hot(t, k).permute({0, 4, 1, 2, 3}).to(torch::kFloat);
  torch::Tensor p = probs;
  torch::Tensor y = onehot;
  if (valid.defined()) {
    p = p * valid;
    y = y * valid;
  }
  const std::vector<int64_t> axes = o.batch_dice ? std::vector<int64_t>{0, 2, 3, 4} : std::vector<int64_t>{2, 3, 4};
  const torch::Tensor tp = (p * y).sum(axes);
  const torch::Tensor fp = (p * (1 - y)).sum(axes);
  const torch::Tensor fn = ((1 - p) * y).sum(axes);
  const torch::Tensor dice = (2 * tp + o.smooth) / (2 * tp + fp + fn + o.smooth).clamp_min(1e-8);
  // Drop background (class 0): last axis of dice is the class.
  return dice.narrow(-1, 1, k - 1).mean();
}

torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target, const DiceCeOptions& o) {
  namespace F = torch::nn::functional;
  auto ce_options = F::CrossEntropyFuncOptions();
  if (o.ignore_index) ce_options.ignore_index(*o.ignore_index);
  const torch::Tensor ce = F::cross_entropy(logits.to(torch::kFloat), target, ce_options);
  return o.ce_weight * ce + o.dice_weight * (1.0 - soft_dice(logits, target, o));
}

std::vector<double> deep_supervision_weights(int64_t n) {
  std::vector<double> w;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    w.push_back(1.0 / static_cast<double>(int64_t{1} << i));
    sum += w.back();
  }
  for (double& v : w) v /= sum;
  return w;
}

torch::Tensor deep_supervision_loss(const std::vector<torch::Tensor>& outputs, const torch::Tensor& target,
                                    const DiceCeOptions& o) {
  MEDSEG_CHECK(!outputs.empty(), "deep_supervision_loss needs at least one output");
  const auto weights = deep_supervision_weights(static_cast<int64_t>(outputs.size()));
  torch::Tensor total;
  for (size_t i = 0; i < outputs.size(); ++i) {
    torch::Tensor t = target;
    if (outputs[i].sizes().slice(2) != target.sizes().slice(1)) {
      namespace F = torch::nn::functional;
      const auto size = outputs[i].sizes().slice(2).vec();
      t = F::interpolate(target.unsqueeze(1).to(torch::kFloat),
                         F::InterpolateFuncOptions().size(size).mode(torch::kNearest))
              .squeeze(1)
              .to(torch::kLong);
    }
    const torch::Tensor l = weights[i] * dice_ce_loss(outputs[i], t, o);
    total = total.defined() ? total + l : l;
  }
  return total;
}

}  // namespace medseg::models
