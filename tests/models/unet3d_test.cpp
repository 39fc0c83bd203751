#include "models/unet3d.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/losses.h"

namespace medseg::models {
namespace {

TEST(Upsample, PixelShuffleEqualsTransposedConvolution) {
  torch::manual_seed(0);
  for (const Int3 stride : {Int3{2, 2, 2}, Int3{1, 2, 2}, Int3{2, 1, 3}}) {
    Upsample transposed(UpsampleOptions(6, 4, stride).kind(UpsampleKind::kTransposedConv));
    Upsample shuffle(UpsampleOptions(6, 4, stride));
    {
      torch::NoGradGuard g;
      shuffle->conv->weight.copy_(transposed_to_shuffle_weight(transposed->transposed->weight));
      shuffle->conv->bias.copy_(transposed_to_shuffle_bias(transposed->transposed->bias, stride));
    }
    const auto x = torch::randn({2, 6, 3, 4, 5});
    const auto a = transposed->forward(x), b = shuffle->forward(x);
    ASSERT_EQ(a.sizes(), b.sizes());
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << (a - b).abs().max();
    EXPECT_TRUE(torch::equal(shuffle_to_transposed_weight(shuffle->conv->weight, 4, stride),
                             transposed->transposed->weight));
  }
}

TEST(UNet3d, OutputShapesForOddSizesAndAnisotropicStrides) {
  // Strides along (i, j, k): k is only halved once (thick slices).
  UNet3d net(UNet3dOptions(2, 3).base_features(4).depth(3).strides({{1, 1, 1}, {2, 2, 2}, {2, 2, 1}}).deep_supervision(true));
  EXPECT_EQ(net->total_stride(), (Int3{4, 4, 2}));
  const auto x = torch::randn({2, 2, 6, 20, 36});  // D = 6 (k), H = 20 (j), W = 36 (i)
  net->eval();
  EXPECT_EQ(net->forward(x).sizes(), (at::IntArrayRef{2, 3, 6, 20, 36}));
  net->train();
  const auto outs = net->forward_all(x);
  // One output per decoder level: full resolution, then level 1 (/2 along
  // i, j, k); the bottleneck has no head.
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].sizes(), (at::IntArrayRef{2, 3, 6, 20, 36}));
  EXPECT_EQ(outs[1].sizes(), (at::IntArrayRef{2, 3, 3, 10, 18}));
}

TEST(UNet3d, IndivisibleSizeIsAClearError) {
  UNet3d net(UNet3dOptions(1, 2).base_features(4).depth(3));
  try {
    net->forward(torch::randn({1, 1, 8, 8, 10}));
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by the total stride (4, 4, 4)"), std::string::npos) << e.what();
  }
}

TEST(UNet3d, EveryNormKindAndDomainIdsWork) {
  for (auto kind : {NormKind::kBatch, NormKind::kInstance, NormKind::kGroup, NormKind::kBatchRenorm, NormKind::kNone}) {
    NormOptions norm(kind);
    norm.num_domains(2).num_groups(2);
    UNet3d net(UNet3dOptions(1, 2).base_features(4).depth(2).norm(norm));
    const auto y = net->forward(torch::randn({2, 1, 8, 8, 8}), torch::tensor({0, 1}, torch::kLong));
    EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, 2, 8, 8, 8})) << to_string(kind);
  }
}

TEST(UNet3d, Bf16AutocastAgreesWithFloat32) {
  torch::manual_seed(1);
  UNet3d net(UNet3dOptions(1, 3).base_features(8).depth(3));
  net->eval();
  torch::NoGradGuard g;
  const auto x = torch::randn({1, 1, 16, 16, 16});
  const auto ref = net->forward(x);
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  const auto low = net->forward(x);
  at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(false);
  EXPECT_EQ(low.scalar_type(), at::kBFloat16);
  const auto diff = (low.to(torch::kFloat) - ref).abs().max().item<double>();
  EXPECT_LT(diff, 0.05 * ref.abs().max().item<double>());
  EXPECT_GT((low.argmax(1) == ref.argmax(1)).to(torch::kFloat).mean().item<double>(), 0.97);
}

// A tiny U-Net learns one synthetic volume (a sphere inside a box) to Dice
// > 0.95 in a few seconds.
TEST(UNet3d, TinyNetworkOverfitsOneVolume) {
  torch::manual_seed(2);
  at::set_num_threads(2);
  const auto r = torch::arange(16, torch::kFloat) - 7.5;
  const auto d2 = r.view({-1, 1, 1}).pow(2) + r.view({1, -1, 1}).pow(2) + r.view({1, 1, -1}).pow(2);
  auto target = torch::zeros({1, 16, 16, 16}, torch::kLong);
  target.masked_fill_((d2 < 36).unsqueeze(0), 1);
  target.masked_fill_((d2 < 9).unsqueeze(0), 2);
  const auto image = (target.to(torch::kFloat) * 0.5 + 0.1 * torch::randn({1, 16, 16, 16})).unsqueeze(1);
  UNet3d net(UNet3dOptions(1, 3).base_features(4).depth(2).norm(NormOptions(NormKind::kInstance)));
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-2));
  for (int step = 0; step < 50; ++step) {
    opt.zero_grad();
    const auto loss = dice_ce_loss(net->forward(image), target);
    loss.backward();
    opt.step();
  }
  net->eval();
  torch::NoGradGuard g;
  const auto pred = net->forward(image).argmax(1);
  for (int label : {1, 2}) {
    const auto p = pred == label, t = target == label;
    const double dice = 2.0 * (p & t).sum().item<double>() / (p.sum() + t.sum()).item<double>();
    EXPECT_GT(dice, 0.95) << "label " << label;
  }
}

}  // namespace
}  // namespace medseg::models
