#pragma once
// Segmentation losses: soft Dice + cross-entropy (nnU-Net's default), with an
// ignore label and deep supervision.
#include <c10/util/Optional.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace medseg::models {

struct DiceCeOptions {
  /// Dice over the whole batch (one value per class) instead of per sample.
  bool batch_dice = false;
  /// Added to numerator and denominator of the soft Dice.
  double smooth = 1e-5;
  /// Target value whose voxels count in neither term.
  c10::optional<int64_t> ignore_index;
  double dice_weight = 1.0;
  double ce_weight = 1.0;
};

/// Mean soft Dice over the foreground classes (background, class 0, is
/// excluded), and over samples unless batch_dice. `logits` (N, K, D, H, W),
/// `target` int64 (N, D, H, W). Per class and sample (or batch):
/// (2 tp + smooth) / (2 tp + fp + fn + smooth) on softmax probabilities.
torch::Tensor soft_dice(const torch::Tensor& logits, const torch::Tensor& target, const DiceCeOptions& options = {});

/// ce_weight · cross-entropy + dice_weight · (1 − soft Dice). nnU-Net writes
/// the Dice term as −Dice; 1 − Dice has the same gradient and stays >= 0.
torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target, const DiceCeOptions& options = {});

/// Weights 1/2^i for outputs i = 0 (full resolution) … n − 1, normalised to sum 1.
std::vector<double> deep_supervision_weights(int64_t n);

/// Weighted sum of dice_ce_loss over `outputs` (full resolution first); the
/// target is down-sampled to each output's size by nearest neighbour.
torch::Tensor deep_supervision_loss(const std::vector<torch::Tensor>& outputs, const torch::Tensor& target,
                                    const DiceCeOptions& options = {});

}  // namespace medseg::models
