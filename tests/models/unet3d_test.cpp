#include "models/unet3d.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "core/error.h"
#include "models/autocast.h"
#include "models/domain_batch_norm.h"
#include "models/instance_batch_norm.h"
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
    // The actual size, the stride it must divide, and what to do.
    const std::string msg = e.what();
    EXPECT_NE(msg.find("UNet3d input size (D, H, W) = [8, 8, 10] is not divisible by the total stride (4, 4, 4)"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("pad the input or choose another patch size"), std::string::npos) << msg;
  }
  try {
    net->forward(torch::randn({1, 3, 8, 8, 8}));
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("UNet3d expects (N, 1, D, H, W) input, got [1, 3, 8, 8, 8]"),
              std::string::npos)
        << e.what();
  }
}

// Shapes only: every norm kind builds, accepts per-sample domain ids and
// gives logits of the input size. What the network computes is checked
// against a hand-assembled network below.
TEST(UNet3d, EveryNormKindAcceptsDomainIdsAndGivesLogitsOfTheInputSize) {
  for (auto kind : {NormKind::kBatch, NormKind::kInstance, NormKind::kGroup, NormKind::kBatchRenorm, NormKind::kNone}) {
    NormOptions norm(kind);
    norm.num_domains(2).num_groups(2);
    UNet3d net(UNet3dOptions(1, 2).base_features(4).depth(2).norm(norm));
    const auto y = net->forward(torch::randn({2, 1, 8, 8, 8}), torch::tensor({0, 1}, torch::kLong));
    EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, 2, 8, 8, 8})) << to_string(kind);
  }
}

// IBN (norm.instance_levels): the first encoder levels normalize each
// sample by its own statistics, computed here by hand; every other layer
// keeps batch norm.
TEST(UNet3d, InstanceLevelsPutInstanceNormInTheFirstEncoderLevelsOnly) {
  torch::manual_seed(5);
  NormOptions norm(NormKind::kBatch);
  norm.num_domains(2).instance_levels(1);
  UNet3d net(UNet3dOptions(1, 2).base_features(4).depth(3).norm(norm));
  std::int64_t instance = 0, batch = 0;
  for (const auto& m : net->named_modules()) {
    if (m.value()->as<torch::nn::InstanceNorm3dImpl>() != nullptr) {
      ++instance;
      EXPECT_TRUE(m.key() == "encoder0a.norm" || m.key() == "encoder0b.norm") << m.key();
    }
    if (m.value()->as<DomainBatchNormImpl>() != nullptr) ++batch;
  }
  EXPECT_EQ(instance, 2);
  EXPECT_EQ(batch, 2 * 3 + 2 * 2 - 2);  // encoder levels 1, 2 and both decoder levels
  {
    torch::NoGradGuard g;
    for (auto& p : net->named_parameters()) {
      if (p.key().find(".norm.") != std::string::npos) p.value().copy_(torch::randn_like(p.value()));
    }
  }
  net->eval();
  const torch::Tensor x = torch::randn({2, 1, 8, 8, 8}) * torch::tensor({1.0f, 5.0f}).view({2, 1, 1, 1, 1});
  torch::NoGradGuard g;
  const auto block = std::dynamic_pointer_cast<ConvBlockImpl>(net->named_children()["encoder0a"]);
  ASSERT_TRUE(block != nullptr);
  const torch::Tensor y = block->conv->forward(x);
  const torch::Tensor mean = y.mean({2, 3, 4}, true);
  const torch::Tensor var = (y - mean).pow(2).mean({2, 3, 4}, true);
  const auto c = [](const torch::Tensor& t) { return t.view({1, -1, 1, 1, 1}); };
  const torch::Tensor z = (y - mean) / (var + 1e-5).sqrt() * c(block->named_parameters()["norm.weight"]) +
                          c(block->named_parameters()["norm.bias"]);
  const torch::Tensor expected = torch::where(z > 0, z, 0.01 * z);
  EXPECT_TRUE(torch::allclose(block->forward(x, {}), expected, 1e-4, 1e-4));
  // Each sample alone gives the same output (no batch statistics there).
  EXPECT_TRUE(torch::allclose(block->forward(x.narrow(0, 1, 1), {}), expected.narrow(0, 1, 1), 1e-4, 1e-4));

  norm.kind(NormKind::kGroup);
  EXPECT_THROW(UNet3d(UNet3dOptions(1, 2).depth(3).norm(norm)), ModelError);
  norm.kind(NormKind::kBatch).instance_levels(4);
  EXPECT_THROW(UNet3d(UNet3dOptions(1, 2).depth(3).norm(norm)), ModelError);
}

// IBN-a (norm.instance_fraction < 1): at the IBN levels the split layer
// takes that share of the channels; its batch half is one of the network's
// batch-norm layers, so adaptation and synchronized statistics reach it.
TEST(UNet3d, InstanceFractionSplitsTheChannelsOfTheInstanceLevels) {
  NormOptions norm(NormKind::kBatch);
  norm.instance_levels(2).instance_fraction(0.5);
  UNet3d net(UNet3dOptions(1, 2).base_features(4).depth(3).norm(norm));
  std::map<std::string, std::int64_t> split;
  std::int64_t instance = 0;
  for (const auto& m : net->named_modules()) {
    if (const auto* layer = m.value()->as<InstanceBatchNormImpl>()) split[m.key()] = layer->instance_channels();
    if (m.value()->as<torch::nn::InstanceNorm3dImpl>() != nullptr) ++instance;  // only inside the split layers
  }
  EXPECT_EQ(instance, 4);
  const std::map<std::string, std::int64_t> expected{
      {"encoder0a.norm", 2}, {"encoder0b.norm", 2}, {"encoder1a.norm", 4}, {"encoder1b.norm", 4}};
  EXPECT_EQ(split, expected);
  EXPECT_EQ(domain_batch_norms(*net).size(), 2 * 3 + 2 * 2);  // every layer keeps a batch half
  net->train();
  const auto y = net->forward(torch::randn({2, 1, 8, 8, 8}));
  EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, 2, 8, 8, 8}));
  y.sum().backward();
  for (const auto& p : net->named_parameters()) {
    if (p.key().find(".norm.") != std::string::npos) EXPECT_TRUE(p.value().grad().defined()) << p.key();
  }

  for (double bad : {0.0, -0.5, 1.5}) {
    norm.instance_fraction(bad);
    EXPECT_THROW(UNet3d(UNet3dOptions(1, 2).depth(3).norm(norm)), ModelError) << bad;
  }
}

// The same layers with the same weights, assembled by hand from ATen ops in
// float64: conv 3x3x3 -> batch norm (eval: each sample with its domain's
// running statistics) -> LeakyReLU(0.01), twice per level; a stride-2 conv
// goes down; a transposed conv (kernel = stride = 2) comes back up and is
// concatenated with the skip (up-sampled features first); a 1x1x1 head.
TEST(UNet3d, ForwardEqualsTheLayersAssembledByHandWithPerDomainStatistics) {
  torch::manual_seed(4);
  NormOptions norm(NormKind::kBatch);
  norm.num_domains(2);
  UNet3d net(UNet3dOptions(2, 3).base_features(4).depth(2).norm(norm).upsample(UpsampleKind::kTransposedConv));
  {
    // Distinct, non-trivial statistics and affine parameters per layer and domain.
    torch::NoGradGuard g;
    for (auto& b : net->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()));
      if (b.key().find("running_var") != std::string::npos) b.value().copy_(torch::rand_like(b.value()) + 0.5);
    }
    for (auto& p : net->named_parameters()) {
      if (p.key().find(".norm.") != std::string::npos) p.value().copy_(torch::randn_like(p.value()));
    }
  }
  net->eval();
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : net->named_parameters()) w[p.key()] = p.value().detach().to(torch::kDouble);
  for (const auto& b : net->named_buffers()) w[b.key()] = b.value().detach().to(torch::kDouble);

  const auto ids = torch::tensor({1, 0}, torch::kLong);
  const auto block = [&](const torch::Tensor& x, const std::string& name, int64_t stride) {
    const torch::Tensor y = at::conv3d(x, w[name + ".conv.weight"], w[name + ".conv.bias"], {stride, stride, stride},
                                       {1, 1, 1});
    std::vector<torch::Tensor> samples;
    for (int64_t n = 0; n < y.size(0); ++n) {
      const int64_t d = ids[n].item<int64_t>();
      const auto c = [](const torch::Tensor& t) { return t.view({-1, 1, 1, 1}); };
      samples.push_back((y[n] - c(w[name + ".norm.running_mean"][d])) /
                            c((w[name + ".norm.running_var"][d] + 1e-5).sqrt()) * c(w[name + ".norm.weight"]) +
                        c(w[name + ".norm.bias"]));
    }
    const torch::Tensor z = torch::stack(samples);
    return torch::where(z > 0, z, 0.01 * z);
  };
  const torch::Tensor x = torch::randn({2, 2, 8, 12, 10});
  const torch::Tensor xd = x.to(torch::kDouble);
  const torch::Tensor skip = block(block(xd, "encoder0a", 1), "encoder0b", 1);
  const torch::Tensor bottom = block(block(skip, "encoder1a", 2), "encoder1b", 1);
  const torch::Tensor up = at::conv_transpose3d(bottom, w["up0.transposed.weight"], w["up0.transposed.bias"], {2, 2, 2});
  const torch::Tensor top = block(block(torch::cat({up, skip}, 1), "decoder0a", 1), "decoder0b", 1);
  const torch::Tensor expected = at::conv3d(top, w["head0.weight"], w["head0.bias"]);

  torch::NoGradGuard g;
  const torch::Tensor actual = net->forward(x, ids);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(actual.to(torch::kDouble), expected, 1e-4, 1e-4))
      << (actual.to(torch::kDouble) - expected).abs().max();
  // The domain ids matter: swapping them changes the logits.
  EXPECT_FALSE(torch::allclose(net->forward(x, torch::tensor({0, 1}, torch::kLong)), actual, 1e-3, 1e-3));
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

// Training in bf16 (the default where the CPU has it) with every norm kind:
// forward and backward under autocast run and agree with float32. Group
// norm once failed here ("expected scalar type BFloat16 but found Float":
// LibTorch 1.13's CPU autocast leaves group_norm's bf16 input next to its
// float32 weight).
TEST(UNet3d, EveryNormKindTrainsUnderBf16Autocast) {
  for (auto kind : {NormKind::kBatch, NormKind::kInstance, NormKind::kGroup, NormKind::kBatchRenorm, NormKind::kNone}) {
    NormOptions norm(kind);
    norm.num_groups(2);
    // Two identical networks: a training forward updates running statistics.
    const auto make = [&] {
      torch::manual_seed(1);
      UNet3d net(UNet3dOptions(1, 3).base_features(4).depth(2).norm(norm));
      net->train();
      return net;
    };
    UNet3d ref_net = make(), low_net = make();
    torch::manual_seed(2);
    const auto x = torch::randn({2, 1, 16, 16, 16});
    const auto target = torch::randn({2, 3, 16, 16, 16});  // a loss without BN's cancellations
    const auto ref = ref_net->forward(x);
    (ref * target).sum().backward();
    torch::Tensor low;
    {
      Bf16Autocast autocast(true);
      low = low_net->forward(x);
    }
    (low.to(torch::kFloat) * target).sum().backward();
    const auto ref_grad = ref_net->parameters()[0].grad();
    const auto grad = low_net->parameters()[0].grad();
    ASSERT_TRUE(grad.defined()) << to_string(kind);
    EXPECT_LT((low.to(torch::kFloat) - ref).abs().max().item<double>(), 0.05 * ref.abs().max().item<double>())
        << to_string(kind);
    EXPECT_GT(torch::cosine_similarity(grad.flatten(), ref_grad.flatten(), 0).item<double>(), 0.98)
        << to_string(kind);
  }
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
