#include "models/losses.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace medseg::models {
namespace {

// Logits all zero: softmax 0.5 / 0.5. Target: n1 voxels of class 1 out of n.
TEST(Losses, SoftDiceAndCrossEntropyByHand) {
  const auto logits = torch::zeros({1, 2, 2, 2, 2});
  auto target = torch::zeros({1, 2, 2, 2}, torch::kLong);
  target[0][0][0][0] = 1;
  target[0][1][1][1] = 1;
  target[0][1][0][1] = 1;  // n1 = 3, n0 = 5
  // tp = 0.5 * 3, fp = 0.5 * 5, fn = 0.5 * 3 -> dice = (3 + s) / (3 + 2.5 + 1.5 + s).
  const double s = 1e-5;
  const double dice = (3 + s) / (7 + s);
  EXPECT_NEAR(soft_dice(logits, target).item<double>(), dice, 1e-6);
  // Cross-entropy of a uniform two-class prediction is ln 2.
  EXPECT_NEAR(dice_ce_loss(logits, target).item<double>(), std::log(2.0) + 1 - dice, 1e-6);
}

TEST(Losses, PerSampleVersusBatchDice) {
  // Sample 0: perfect prediction of class 1 everywhere; sample 1: class 1
  // absent from target and prediction -> per-sample Dice of sample 1 is
  // smooth/smooth = 1; batch Dice pools both.
  auto logits = torch::zeros({2, 2, 1, 1, 2});
  logits.index_put_({0, 1}, 100.0);   // sample 0 predicts class 1
  logits.index_put_({1, 0}, 100.0);   // sample 1 predicts class 0
  auto target = torch::zeros({2, 1, 1, 2}, torch::kLong);
  target[0].fill_(1);
  DiceCeOptions per_sample, batch;
  batch.batch_dice = true;
  EXPECT_NEAR(soft_dice(logits, target, per_sample).item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(soft_dice(logits, target, batch).item<double>(), 1.0, 1e-6);
  // Now sample 1 wrongly predicts class 1 on both voxels: per sample its
  // Dice is s / (2 + s) ~ 0; pooled: tp = 2, fp = 2 -> 4 / 6.
  logits.index_put_({1, 0}, 0.0);
  logits.index_put_({1, 1}, 100.0);
  EXPECT_NEAR(soft_dice(logits, target, per_sample).item<double>(), 0.5, 1e-4);
  EXPECT_NEAR(soft_dice(logits, target, batch).item<double>(), 4.0 / 6.0, 1e-4);
}

TEST(Losses, BackgroundIsExcludedFromDice) {
  // Three classes, everything predicted as class 2; target (2, 2, 2, 0).
  // Class 2: tp 3, fp 1 -> 6/7; class 1 absent and never predicted -> 1 by
  // smoothing; background: tp 0, fn 1 -> ~0, excluded: mean (1 + 6/7) / 2.
  auto logits = torch::full({1, 3, 1, 1, 4}, -100.0);
  logits.index_put_({0, 2}, 100.0);
  const auto target = torch::tensor({2, 2, 2, 0}, torch::kLong).view({1, 1, 1, 4});
  EXPECT_NEAR(soft_dice(logits, target).item<double>(), 13.0 / 14.0, 1e-5);
}

TEST(Losses, IgnoredVoxelsCountNowhere) {
  auto logits = torch::zeros({1, 2, 1, 1, 4});
  logits.index_put_({0, 1, 0, 0, 3}, 50.0);  // voxel 3 confidently class 1
  auto target = torch::tensor({0, 0, 0, 9}, torch::kLong).view({1, 1, 1, 4});
  DiceCeOptions o;
  o.ignore_index = 9;
  // Only voxels 0..2 count: uniform predictions of class 0 -> CE = ln 2;
  // class 1 absent: tp = 0, fp = 1.5, fn = 0 -> dice = s / (1.5 + s).
  const double s = 1e-5;
  EXPECT_NEAR(dice_ce_loss(logits, target, o).item<double>(), std::log(2.0) + 1 - s / (1.5 + s), 1e-5);
}

TEST(Losses, DeepSupervisionWeightsHalveAndSumToOne) {
  const auto w = deep_supervision_weights(3);  // 1, 1/2, 1/4 over 7/4
  EXPECT_NEAR(w[0], 4.0 / 7, 1e-12);
  EXPECT_NEAR(w[1], 2.0 / 7, 1e-12);
  EXPECT_NEAR(w[2], 1.0 / 7, 1e-12);
  const auto target = torch::randint(0, 2, {1, 4, 4, 4}, torch::kLong);
  const auto full = torch::randn({1, 2, 4, 4, 4});
  const auto half = torch::randn({1, 2, 2, 2, 2});
  // Nearest down-sampling by 2 picks voxels (0, 2) along each axis.
  const auto small_target = target.index({torch::indexing::Slice(), torch::indexing::Slice(0, 4, 2),
                                          torch::indexing::Slice(0, 4, 2), torch::indexing::Slice(0, 4, 2)});
  const double expected = (2.0 / 3) * dice_ce_loss(full, target).item<double>() +
                          (1.0 / 3) * dice_ce_loss(half, small_target).item<double>();
  EXPECT_NEAR(deep_supervision_loss({full, half}, target).item<double>(), expected, 1e-5);
}

TEST(Losses, GradientsFlowAndShapeErrorsAreClear) {
  auto logits = torch::randn({2, 3, 4, 4, 4}, torch::requires_grad());
  const auto target = torch::randint(0, 3, {2, 4, 4, 4}, torch::kLong);
  dice_ce_loss(logits, target).backward();
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
  // The message names the function, the expected layouts and both actual shapes.
  try {
    soft_dice(torch::randn({2, 3, 4, 4, 4}), torch::zeros({2, 4, 4, 5}, torch::kLong));
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("soft_dice expects logits (N, K, D, H, W) and target (N, D, H, W), "
                                         "got [2, 3, 4, 4, 4] and [2, 4, 4, 5]"),
              std::string::npos)
        << e.what();
  }
  try {
    soft_dice(torch::randn({2, 1, 4, 4, 4}), torch::zeros({2, 4, 4, 4}, torch::kLong));
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("soft_dice needs at least 2 classes (background + foreground), got 1"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace medseg::models
