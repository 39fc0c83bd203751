// checkpoint.pt round trip: what a resumed run continues from must come
// back exactly (the kill -9 soak found best_mean_dice read back as the bits
// of a double taken for an int64).
#include "pipeline/train/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/common/temp_dir.h"

namespace medseg::pipeline {
namespace {

models::UNet3d tiny_model() {
  return models::UNet3d(models::UNet3dOptions(1, 3).base_features(4).depth(2));
}

TEST(Checkpoint, ProgressWeightsAndOptimizerStateComeBackExactly) {
  test::TempDir dir;
  torch::manual_seed(5);
  auto model = tiny_model();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.003));
  // One step, so that the optimizer has moments to save.
  model->train();
  optimizer.zero_grad();
  model->forward(torch::randn({1, 1, 8, 8, 8})).sum().backward();
  optimizer.step();
  CheckpointState saved;
  saved.epoch = 7;
  saved.best_mean_dice = 0.0403125;  // not representable in few bits: any mix-up shows
  saved.best_epoch = 6;
  save_checkpoint(dir / "checkpoint.pt", model, optimizer, saved);

  torch::manual_seed(6);  // other initial weights
  auto other = tiny_model();
  torch::optim::AdamW other_optimizer(other->parameters(), torch::optim::AdamWOptions(0.003));
  const CheckpointState loaded = load_checkpoint(dir / "checkpoint.pt", other, other_optimizer);
  EXPECT_EQ(loaded.epoch, 7);
  EXPECT_EQ(loaded.best_mean_dice, 0.0403125);
  EXPECT_EQ(loaded.best_epoch, 6);
  const auto a = model->named_parameters(), b = other->named_parameters();
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  const auto ba = model->named_buffers(), bb = other->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
  // The optimizer continues identically: one more step on each gives the same weights.
  const torch::Tensor input = torch::randn({1, 1, 8, 8, 8});
  for (auto* pair : {&optimizer, &other_optimizer}) {
    auto& net = pair == &optimizer ? model : other;
    pair->zero_grad();
    net->forward(input).sum().backward();
    pair->step();
  }
  for (const auto& item : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), other->named_parameters()[item.key()])) << item.key();
  }
}

TEST(Checkpoint, ANegativeBestDiceBeforeAnyValidationComesBack) {
  test::TempDir dir;
  auto model = tiny_model();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  CheckpointState saved;
  saved.epoch = 1;
  save_checkpoint(dir / "c.pt", model, optimizer, saved);
  const CheckpointState loaded = load_checkpoint(dir / "c.pt", model, optimizer);
  EXPECT_EQ(loaded.best_mean_dice, -1.0);
  EXPECT_EQ(loaded.best_epoch, 0);
}

}  // namespace
}  // namespace medseg::pipeline
