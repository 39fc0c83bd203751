#include "models/instance_batch_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/norm.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;
using testing::throws_with;
using torch::Tensor;

// Per-channel affine of a (C) parameter on (N, C, D, H, W).
Tensor channel(const Tensor& t) { return t.view({1, -1, 1, 1, 1}); }

// The references: each sample's own statistics for the first channels
// (computed by hand), PyTorch's own BatchNorm3d for the others.
struct Reference {
  explicit Reference(const InstanceBatchNormImpl& layer) {
    batch->weight.data().copy_(layer.batch->weight);
    batch->bias.data().copy_(layer.batch->bias);
    batch->running_mean.copy_(layer.batch->running_mean);
    batch->running_var.copy_(layer.batch->running_var);
    gamma = layer.instance->weight.detach().clone();
    beta = layer.instance->bias.detach().clone();
  }
  Tensor forward(const Tensor& x, bool training) {
    batch->train(training);
    const Tensor a = x.narrow(1, 0, gamma.size(0));
    const Tensor mean = a.mean({2, 3, 4}, true);
    const Tensor var = (a - mean).pow(2).mean({2, 3, 4}, true);
    const Tensor in = (a - mean) / (var + 1e-5).sqrt() * channel(gamma) + channel(beta);
    return torch::cat({in, batch->forward(x.narrow(1, gamma.size(0), x.size(1) - gamma.size(0)))}, 1);
  }
  torch::nn::BatchNorm3d batch{torch::nn::BatchNorm3dOptions(3)};
  Tensor gamma, beta;
};

InstanceBatchNorm split_layer() {
  InstanceBatchNorm layer(torch::nn::InstanceNorm3dOptions(2).affine(true), DomainBatchNormOptions(3));
  torch::NoGradGuard g;
  for (auto& p : layer->parameters()) p.copy_(torch::randn_like(p));
  return layer;
}

TEST(InstanceBatchNorm, FirstChannelsPerSampleTheOthersPerBatchAsInPyTorch) {
  torch::manual_seed(3);
  InstanceBatchNorm layer = split_layer();
  Reference reference(*layer);
  // Samples of very different scale: instance and batch statistics differ.
  const Tensor x = torch::randn({2, 5, 4, 6, 5}) * torch::tensor({1.0f, 4.0f}).view({2, 1, 1, 1, 1}) + 2;
  torch::NoGradGuard g;
  for (int step = 0; step < 3; ++step) {
    layer->train();
    EXPECT_TRUE(all_close(layer->forward(x * (step + 1)), reference.forward(x * (step + 1), true), 1e-4, 1e-4));
  }
  // The batch half tracked the running statistics as BatchNorm3d does.
  EXPECT_TRUE(all_close(layer->batch->running_mean, reference.batch->running_mean, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(layer->batch->running_var, reference.batch->running_var, 1e-5, 1e-5));
  layer->eval();
  EXPECT_TRUE(all_close(layer->forward(x), reference.forward(x, false), 1e-4, 1e-4));
  // In eval mode neither half depends on the other sample.
  EXPECT_TRUE(all_close(layer->forward(x.narrow(0, 1, 1)), reference.forward(x, false).narrow(0, 1, 1), 1e-4, 1e-4));
}

TEST(InstanceBatchNorm, DomainIdsReachTheBatchHalf) {
  torch::manual_seed(4);
  InstanceBatchNorm layer(torch::nn::InstanceNorm3dOptions(1), DomainBatchNormOptions(2).num_domains(2));
  {
    torch::NoGradGuard g;
    layer->batch->running_mean.copy_(torch::tensor({0.0, 0.0, 5.0, -5.0}).view_as(layer->batch->running_mean));
  }
  layer->eval();
  const Tensor x = torch::randn({1, 3, 4, 4, 4});
  torch::NoGradGuard g;
  const Tensor d0 = layer->forward(x, torch::tensor({0}, torch::kLong));
  const Tensor d1 = layer->forward(x, torch::tensor({1}, torch::kLong));
  EXPECT_TRUE(torch::equal(d0.narrow(1, 0, 1), d1.narrow(1, 0, 1)));
  EXPECT_TRUE(all_close(d0.narrow(1, 1, 2) - d1.narrow(1, 1, 2),
                        torch::tensor({5.0f, -5.0f}).view({1, 2, 1, 1, 1}).expand_as(d0.narrow(1, 1, 2)), 1e-4, 1e-4));
}

TEST(InstanceBatchNorm, WrongChannelCountIsAClearError) {
  InstanceBatchNorm layer = split_layer();
  EXPECT_TRUE(throws_with<ModelError>([&] { layer->forward(torch::randn({1, 4, 2, 2, 2})); },
                                      {"InstanceBatchNorm expects (N, 5, D, H, W) input"}));
}

// make_norm: all channels -> InstanceNorm3d, some -> the split layer, with
// the options' eps, affine and batch kind; invalid counts are ConfigErrors.
TEST(InstanceBatchNorm, MakeNormBuildsItForSomeInstanceChannels) {
  const NormOptions options = NormOptions(NormKind::kBatchRenorm).eps(1e-3).num_domains(2);
  auto all = make_norm(options, 8, 8);
  ASSERT_NE(all.ptr()->as<torch::nn::InstanceNorm3dImpl>(), nullptr);
  EXPECT_DOUBLE_EQ(all.ptr()->as<torch::nn::InstanceNorm3dImpl>()->options.eps(), 1e-3);
  auto some = make_norm(options, 8, 3);
  const auto* split = some.ptr()->as<InstanceBatchNormImpl>();
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->instance_channels(), 3);
  EXPECT_EQ(split->batch->options.num_features(), 5);
  EXPECT_TRUE(split->batch->options.renorm());
  EXPECT_EQ(split->batch->num_domains(), 2);
  EXPECT_DOUBLE_EQ(split->instance->options.eps(), 1e-3);
  EXPECT_NE(make_norm(options, 8, 0).ptr()->as<DomainBatchNormImpl>(), nullptr);
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormKind::kBatch, 8, 9); }, {"instance channels must be 0..8"}));
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormKind::kGroup, 8, 4); }, {"only with a batch kind", "group"}));
}

TEST(InstanceBatchNorm, InstanceChannelsRoundTheFractionAndKeepAtLeastOne) {
  EXPECT_EQ(instance_channels(NormOptions().instance_fraction(0.5), 8), 4);
  EXPECT_EQ(instance_channels(NormOptions().instance_fraction(0.3), 16), 5);  // 4.8
  EXPECT_EQ(instance_channels(NormOptions().instance_fraction(0.01), 8), 1);
  EXPECT_EQ(instance_channels(NormOptions(), 8), 8);
}

}  // namespace
}  // namespace medseg::models
