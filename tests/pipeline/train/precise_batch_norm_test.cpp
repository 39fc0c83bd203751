// PreciseBN against two independent references: the first layer's statistics
// computed by hand from its convolution's output, and every layer's against
// PyTorch's own cumulative running average (momentum None) in training mode.
#include "pipeline/train/precise_batch_norm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "core/error.h"
#include "models/domain_batch_norm.h"
#include "pipeline/synth/phantom.h"
#include "pipeline/train/augmenter.h"
#include "pipeline/train/patch_sampler.h"

namespace medseg::pipeline {
namespace {

constexpr std::int64_t kBatches = 3;

TrainingCase phantom_case() {
  PhantomOptions o;
  o.size = {32, 32, 32};
  o.seed = 7;
  const Phantom p = make_phantom(o, scanner_profile("clean"));
  TrainingCase c;
  c.id = "p";
  c.image = p.image.data.unsqueeze(0);
  c.labels = p.labels.data.to(at::kShort);
  index_class_locations(c, 4);
  return c;
}

models::UNet3d tiny_unet(models::NormKind kind = models::NormKind::kBatch, std::int64_t domains = 1) {
  torch::manual_seed(3);
  models::NormOptions norm(kind);
  if (domains > 1) norm.num_domains(domains);
  return models::UNet3d(models::UNet3dOptions(1, 4).base_features(4).depth(3).norm(norm));
}

std::vector<models::DomainBatchNormImpl*> bn_layers(models::UNet3d& model) {
  std::vector<models::DomainBatchNormImpl*> layers;
  for (const auto& m : model->modules(true)) {
    if (auto* bn = m->as<models::DomainBatchNormImpl>()) layers.push_back(bn);
  }
  return layers;
}

struct Fixture {
  std::vector<TrainingCase> cases{phantom_case()};
  PatchSampler sampler{cases, {16, 16, 16}};
  AugmentationConfig config;  // the defaults: intensity and spatial transforms
  Augmenter augmenter{config, {16, 16, 16}};
  BatchLoaderOptions options;
  Fixture() {
    options.batch_size = 2;
    options.seed = 11;
  }
};

TEST(PreciseBatchNorm, FirstLayerIsTheAverageOfItsConvolutionsBatchStatistics) {
  Fixture f;
  models::UNet3d model = tiny_unet();
  model->train();
  const auto weights_before = model->parameters()[0].clone();
  ASSERT_EQ(recompute_batch_norm_statistics(model, f.sampler, f.augmenter, f.options, kBatches, false),
            static_cast<std::int64_t>(bn_layers(model).size()));
  EXPECT_TRUE(model->is_training());
  EXPECT_TRUE(at::equal(model->parameters()[0], weights_before));

  // The first convolution sees the raw batch: its output's per-channel batch
  // mean and unbiased variance, averaged over the batches, by hand.
  torch::nn::Conv3dImpl* conv = nullptr;
  for (const auto& m : model->modules(true)) {
    if ((conv = m->as<torch::nn::Conv3dImpl>())) break;
  }
  ASSERT_NE(conv, nullptr);
  torch::NoGradGuard no_grad;
  at::Tensor mean_sum, var_sum;
  for (std::int64_t n = 0; n < kBatches; ++n) {
    const at::Tensor y = conv->forward(make_batch(f.sampler, f.augmenter, f.options, n).image).to(at::kDouble);
    const at::Tensor per_channel = y.transpose(0, 1).reshape({y.size(1), -1});
    const at::Tensor mean = per_channel.mean(1);
    const at::Tensor var = (per_channel - mean.unsqueeze(1)).pow(2).sum(1) / (per_channel.size(1) - 1);
    mean_sum = n == 0 ? mean : mean_sum + mean;
    var_sum = n == 0 ? var : var_sum + var;
  }
  auto* first = bn_layers(model).front();
  EXPECT_TRUE(at::allclose(first->running_mean.to(at::kDouble), mean_sum / kBatches, 1e-4, 1e-5))
      << first->running_mean << mean_sum / kBatches;
  EXPECT_TRUE(at::allclose(first->running_var.to(at::kDouble), var_sum / kBatches, 1e-4, 1e-5))
      << first->running_var << var_sum / kBatches;
}

TEST(PreciseBatchNorm, EveryLayerMatchesPyTorchsCumulativeAverageInTrainingMode) {
  Fixture f;
  models::UNet3d precise = tiny_unet();
  models::UNet3d reference = tiny_unet();  // same seed: same weights
  recompute_batch_norm_statistics(precise, f.sampler, f.augmenter, f.options, kBatches, false);

  // PyTorch's own estimate: training-mode batch norm with momentum None keeps
  // the plain average of the batches' means and unbiased variances.
  auto layers = bn_layers(reference);
  for (auto* layer : layers) {
    layer->options.momentum(c10::nullopt);
    layer->reset_running_stats();
  }
  reference->train();
  {
    torch::NoGradGuard no_grad;
    for (std::int64_t n = 0; n < kBatches; ++n) reference->forward(make_batch(f.sampler, f.augmenter, f.options, n).image);
  }
  const auto mine = bn_layers(precise);
  ASSERT_EQ(mine.size(), layers.size());
  ASSERT_GE(mine.size(), 6u);
  for (std::size_t k = 0; k < layers.size(); ++k) {
    EXPECT_TRUE(at::allclose(mine[k]->running_mean, layers[k]->running_mean, 1e-3, 1e-4)) << "layer " << k;
    EXPECT_TRUE(at::allclose(mine[k]->running_var, layers[k]->running_var, 1e-3, 1e-4)) << "layer " << k;
  }
  // And they are not what a fresh model carries (mean 0, variance 1).
  EXPECT_GT(mine.back()->running_var.sub(1).abs().max().item<double>(), 1e-2);
}

TEST(PreciseBatchNorm, RefusesModelsWithoutBatchNormOrWithSeveralDomainsAndZeroBatches) {
  Fixture f;
  models::UNet3d instance = tiny_unet(models::NormKind::kInstance);
  EXPECT_THROW(recompute_batch_norm_statistics(instance, f.sampler, f.augmenter, f.options, 2, false), ConfigError);
  models::UNet3d two = tiny_unet(models::NormKind::kBatch, 2);
  const at::Tensor before = bn_layers(two).front()->running_mean.clone();
  EXPECT_THROW(recompute_batch_norm_statistics(two, f.sampler, f.augmenter, f.options, 2, false), ConfigError);
  EXPECT_TRUE(at::equal(bn_layers(two).front()->running_mean, before));
  models::UNet3d one = tiny_unet();
  EXPECT_THROW(recompute_batch_norm_statistics(one, f.sampler, f.augmenter, f.options, 0, false), ConfigError);
  for (auto* layer : bn_layers(one)) EXPECT_FALSE(layer->is_adapting());
}

// Frozen batch norm: a training-mode forward normalizes as inference does
// (eval mode is PyTorch's own running-statistics path), updates nothing, and
// still passes gradients to the convolutions and to γ/β.
TEST(FrozenBatchNorm, TrainingNormalizesWithTheRunningStatisticsAndStillLearns) {
  Fixture f;
  models::UNet3d model = tiny_unet();
  recompute_batch_norm_statistics(model, f.sampler, f.augmenter, f.options, kBatches, false);
  const at::Tensor x = make_batch(f.sampler, f.augmenter, f.options, 7).image;
  // A training-mode forward first: it also moves the running statistics,
  // which inference and the frozen forward must then both use.
  model->train();
  at::Tensor batch_normalized;
  at::Tensor inference;
  {
    torch::NoGradGuard no_grad;
    batch_normalized = model->forward(x);
    model->eval();
    inference = model->forward(x);
    model->train();
  }
  const auto layers = bn_layers(model);
  std::vector<at::Tensor> means;
  for (auto* layer : layers) means.push_back(layer->running_mean.clone());

  EXPECT_EQ(freeze_batch_norm(model), static_cast<std::int64_t>(layers.size()));
  EXPECT_TRUE(model->is_training());
  const at::Tensor frozen = model->forward(x);
  EXPECT_TRUE(at::allclose(frozen, inference, 1e-5, 1e-6)) << (frozen - inference).abs().max();
  EXPECT_FALSE(at::allclose(batch_normalized, inference, 1e-3, 1e-3));  // the test can tell them apart
  for (std::size_t k = 0; k < layers.size(); ++k) EXPECT_TRUE(at::equal(layers[k]->running_mean, means[k]));

  frozen.square().mean().backward();
  EXPECT_GT(model->parameters()[0].grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(layers.front()->weight.grad().abs().sum().item<double>(), 0.0);

  model->train();  // undoes the freeze
  for (auto* layer : layers) EXPECT_TRUE(layer->is_training());
}

}  // namespace
}  // namespace medseg::pipeline
