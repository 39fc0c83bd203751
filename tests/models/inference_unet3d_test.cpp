#include "models/inference_unet3d.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "models/autocast.h"
#include "models/cpu_features.h"
#include "models/direct_conv3x3x3.h"
#include "models/domain_batch_norm.h"
#include "models/onednn_unet3d.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;

// A small U-Net whose batch-norm statistics (per domain) and affine
// parameters are far from the identity, so a wrong fold shows.
UNet3d trained_like(UNet3dOptions options) {
  torch::manual_seed(11);
  UNet3d net(options);
  torch::NoGradGuard no_grad;
  net->train();
  const int64_t domains = options.norm().num_domains();
  for (int step = 0; step < 3; ++step) {
    for (int64_t d = 0; d < domains; ++d) {
      net->forward(torch::randn({2, options.in_channels(), 16, 16, 16}) * (1 + d) + d,
                   torch::full({2}, d, torch::kLong));
    }
  }
  for (auto& p : net->named_parameters()) {
    if (p.key().find(".norm.") != std::string::npos) p.value().uniform_(0.5, 1.5);
  }
  net->eval();
  return net;
}

UNet3dOptions small(NormOptions norm) {
  return UNet3dOptions(2, 3).base_features(4).max_features(16).depth(3).norm(norm);
}

torch::Tensor reference(UNet3d& net, const torch::Tensor& x, int64_t domain, bool bf16 = false) {
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast(bf16);
  return net->forward(x, torch::full({x.size(0)}, domain, torch::kLong)).to(torch::kFloat);
}

TEST(InferenceUNet3d, FoldedBatchNormMatchesEvalUNetForEachDomain) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch).num_domains(2).domain_affine(true)));
  const torch::Tensor x = torch::randn({2, 2, 16, 16, 16}) * 2 + 1;
  for (int64_t domain : {0, 1}) {
    const InferenceUNet3d fast(net, domain);
    EXPECT_EQ(fast.folded_norms(), fast.conv_blocks());
    EXPECT_TRUE(all_close(fast.forward(x), reference(net, x, domain), 1e-4, 1e-4)) << "domain " << domain;
  }
  // The domains' statistics differ, so folding the wrong one would show.
  EXPECT_FALSE(all_close(InferenceUNet3d(net, 1).forward(x), reference(net, x, 0), 1e-2, 1e-2));
}

TEST(InferenceUNet3d, EveryNormKindMatchesEvalUNet) {
  for (NormKind kind : {NormKind::kBatchRenorm, NormKind::kInstance, NormKind::kGroup, NormKind::kNone}) {
    NormOptions norm(kind);
    norm.num_groups(2).renorm_warmup_steps(0);
    UNet3d net = trained_like(small(norm));
    const torch::Tensor x = torch::randn({1, 2, 16, 16, 16});
    const InferenceUNet3d fast(net, 0);
    const bool batch = kind == NormKind::kBatchRenorm;
    EXPECT_EQ(fast.folded_norms(), batch ? fast.conv_blocks() : 0) << to_string(kind);
    EXPECT_TRUE(all_close(fast.forward(x), reference(net, x, 0), 1e-4, 1e-4)) << to_string(kind);
  }
}

// IBN (norm.instance_levels 1) and IBN-a (instance_fraction 0.5): IBN's two
// level-0 instance-norm layers stay and the oneDNN network (every norm
// folded) refuses it; IBN-a's split layers fold their batch half (each
// domain's statistics) and keep only the instance channels, which the oneDNN
// network runs too (OnednnUNet3d.RunsIbnaSplitLayers).
TEST(InferenceUNet3d, InstanceLevelsKeepTheirInstanceNormAndFoldTheRest) {
  const NormOptions ibn = NormOptions(NormKind::kBatch).num_domains(2).instance_levels(1);
  for (const NormOptions& norm : {ibn, NormOptions(ibn).instance_fraction(0.5)}) {
    SCOPED_TRACE("instance_fraction " + std::to_string(norm.instance_fraction()));
    const bool split = norm.instance_fraction() < 1.0;
    UNet3d net = trained_like(small(norm));
    const torch::Tensor x = torch::randn({2, 2, 16, 16, 16}) * 2 + 1;
    for (int64_t domain : {0, 1}) {
      const InferenceUNet3d fast(net, domain);
      EXPECT_EQ(fast.folded_norms(), fast.conv_blocks() - (split ? 0 : 2));
      EXPECT_TRUE(all_close(fast.forward(x), reference(net, x, domain), 1e-4, 1e-4)) << "domain " << domain;
      EXPECT_EQ(OnednnUNet3d::supports(fast), split);
    }
    // IBN-a's level-0 batch half keeps per-domain statistics, so running the
    // wrong domain shows (with instance norm alone there, it may not).
    if (norm.instance_fraction() < 1.0) {
      EXPECT_FALSE(all_close(InferenceUNet3d(net, 1).forward(x), reference(net, x, 0), 1e-2, 1e-2));
    }
  }
}

TEST(InferenceUNet3d, BatchNormWithTestBatchStatisticsStaysUnfolded) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch)));
  for (const auto& m : net->modules()) {
    if (auto* bn = m->as<DomainBatchNormImpl>()) bn->options.test_batch_stats(true);
  }
  const torch::Tensor x = torch::randn({2, 2, 16, 16, 16});
  const InferenceUNet3d fast(net, 0);
  EXPECT_EQ(fast.folded_norms(), 0);
  EXPECT_TRUE(all_close(fast.forward(x), reference(net, x, 0), 1e-4, 1e-4));
}

TEST(InferenceUNet3d, TransposedUpsamplingRunsAsPixelShuffleWithTheSameLogits) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch)).upsample(UpsampleKind::kTransposedConv));
  const torch::Tensor x = torch::randn({1, 2, 16, 16, 16});
  EXPECT_TRUE(all_close(InferenceUNet3d(net, 0).forward(x), reference(net, x, 0), 1e-4, 1e-4));
}

TEST(InferenceUNet3d, ChannelsLastGivesTheSameLogits) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch)).strides({{1, 1, 1}, {2, 2, 1}, {2, 1, 2}}));
  const torch::Tensor x = torch::randn({2, 2, 16, 16, 16});
  const torch::Tensor out = InferenceUNet3d(net, 0, InferenceUNet3dOptions().channels_last(true)).forward(x);
  EXPECT_TRUE(all_close(out, reference(net, x, 0), 1e-4, 1e-4));
}

TEST(InferenceUNet3d, Bf16StaysCloseToTheAutocastUNet) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch)));
  const torch::Tensor x = torch::randn({1, 2, 16, 16, 16});
  const torch::Tensor out = InferenceUNet3d(net, 0, InferenceUNet3dOptions().bf16(true)).forward(x);
  const torch::Tensor ref = reference(net, x, 0, /*bf16=*/true);
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  // bf16 keeps 8 significant bits; folding rounds the scaled filters once.
  EXPECT_TRUE(all_close(out, ref, 0.05, 0.05 * ref.abs().max().item<double>()));
  // ... and it does run in bf16: float32 would agree far more closely.
  EXPECT_FALSE(all_close(out, InferenceUNet3d(net, 0).forward(x), 1e-4, 1e-4));
}

TEST(InferenceUNet3d, RefusesATrainingModeUNetAndABadDomain) {
  UNet3d net = trained_like(small(NormOptions(NormKind::kBatch).num_domains(2)));
  EXPECT_THROW(InferenceUNet3d(net, 2), ModelError);
  net->train();
  EXPECT_THROW(InferenceUNet3d(net, 0), ModelError);
}

// The same folded network on oneDNN's own API (blocked or channels-last
// layouts kept between layers, LeakyReLU fused, shuffle + concatenation in
// one pass): the eval UNet3d's logits, for 4-16 channels (oneDNN lays out
// fewer than 16 differently), both up-sampling kinds, anisotropic strides,
// several batch sizes and a non-cubic window.
TEST(OnednnUNet3d, MatchesTheEvalUNet) {
  struct Case {
    const char* what;
    UNet3dOptions options;
    std::vector<int64_t> shape;
    int64_t domain;
    int direct_layers;  // with DirectKernels::always
  };
  const std::vector<Case> cases{
      {"two domains, the second", small(NormOptions(NormKind::kBatch).num_domains(2).domain_affine(true)),
       {2, 2, 16, 16, 16}, 1, 4},
      {"bundled widths (8..32), batch 3", UNet3dOptions(1, 3).base_features(8).max_features(32).depth(3).norm(NormOptions(NormKind::kBatch)),
       {3, 1, 16, 16, 16}, 0, 7},
      {"transposed up-sampling, batch 1", small(NormOptions(NormKind::kBatch)).upsample(UpsampleKind::kTransposedConv),
       {1, 2, 16, 16, 16}, 0, 4},
      {"anisotropic strides, non-cubic window",
       small(NormOptions(NormKind::kBatchRenorm)).strides({{1, 1, 1}, {2, 2, 1}, {2, 1, 2}}), {2, 2, 8, 16, 24}, 0, 4},
      {"no norm", small(NormOptions(NormKind::kNone)), {2, 2, 16, 16, 16}, 0, 4}};
  for (const auto& c : cases) {
    UNet3d net = trained_like(c.options);
    const InferenceUNet3d folded(net, c.domain);
    ASSERT_TRUE(OnednnUNet3d::supports(folded));
    const torch::Tensor x = torch::randn(c.shape) * 2 + 1;
    const torch::Tensor expected = reference(net, x, c.domain);
    // oneDNN alone, and with the layers of 8 and 16 output channels on
    // medseg's own kernel (models/direct_conv3x3x3.h).
    for (const DirectKernels kernels : {DirectKernels::never, DirectKernels::always}) {
      SCOPED_TRACE(std::string(c.what) + (kernels == DirectKernels::always ? ", direct kernels" : ", oneDNN only"));
      const OnednnUNet3d direct(folded, kernels);
      for (int call = 0; call < 2; ++call) {  // the second call reuses the first's primitives and buffers
        const torch::Tensor out = direct.forward(x);
        ASSERT_EQ(out.sizes(), expected.sizes());
        EXPECT_TRUE(all_close(out, expected, 1e-4, 1e-4)) << (out - expected).abs().max().item<double>();
        EXPECT_TRUE(torch::equal(out.argmax(1), expected.argmax(1)));
      }
      // Every stride-1 3x3x3 layer that writes 8 or 16 channels from 1 or a
      // multiple of 8, counted by hand: base 4 (levels 4, 8, 16): encoder
      // b of levels 1 and 2, decoder a and b of level 1; base 8 (8, 16, 32):
      // encoder a and b of level 0, b of level 1, decoder a and b of levels
      // 1 and 0.
      const int expected_direct = kernels == DirectKernels::always && direct_conv_available() ? c.direct_layers : 0;
      EXPECT_EQ(direct.direct_layers(), expected_direct);
    }
  }
}

TEST(OnednnUNet3d, RefusesNormsItCannotFold) {
  UNet3d instance = trained_like(small(NormOptions(NormKind::kInstance)));
  EXPECT_FALSE(OnednnUNet3d::supports(InferenceUNet3d(instance, 0)));
  EXPECT_THROW(OnednnUNet3d{InferenceUNet3d(instance, 0)}, ModelError);
}

// IBN-a (instance norm on half the channels of the first levels, the batch
// half folded): the instance channels are normalized per window after their
// convolution, in oneDNN's layouts (4 channels inside an 8-channel block,
// 8 of 16), for each domain and batch size; the eval UNet's logits.
TEST(OnednnUNet3d, RunsIbnaSplitLayers) {
  const NormOptions ibna = NormOptions(NormKind::kBatch).num_domains(2).instance_levels(2).instance_fraction(0.5);
  const std::vector<std::pair<UNet3dOptions, std::vector<int64_t>>> cases{
      {small(ibna), {2, 2, 16, 16, 16}},
      {UNet3dOptions(1, 3).base_features(8).max_features(32).depth(3).norm(ibna), {3, 1, 16, 16, 24}}};
  for (const auto& [options, shape] : cases) {
    UNet3d net = trained_like(options);
    const torch::Tensor x = torch::randn(shape) * 2 + 1;
    for (int64_t domain : {0, 1}) {
      const InferenceUNet3d folded(net, domain);
      ASSERT_TRUE(OnednnUNet3d::supports(folded));
      const torch::Tensor expected = reference(net, x, domain);
      for (const DirectKernels kernels : {DirectKernels::never, DirectKernels::always}) {
        SCOPED_TRACE("base " + std::to_string(options.base_features()) + ", domain " + std::to_string(domain) +
                     (kernels == DirectKernels::always ? ", direct kernels" : ", oneDNN only"));
        const torch::Tensor out = OnednnUNet3d(folded, kernels).forward(x);
        ASSERT_EQ(out.sizes(), expected.sizes());
        EXPECT_TRUE(all_close(out, expected, 1e-4, 1e-4)) << (out - expected).abs().max().item<double>();
        EXPECT_TRUE(torch::equal(out.argmax(1), expected.argmax(1)));
      }
    }
  }
}

// bf16 where the CPU runs it natively (as LibTorch's path): as close to the
// autocast UNet as the LibTorch folded bf16 network is; refused elsewhere.
// Batch norm, and IBN-a (its instance channels read and written as bf16).
TEST(OnednnUNet3d, Bf16StaysCloseToTheAutocastUNetWhereNative) {
  const NormOptions ibna = NormOptions(NormKind::kBatch).instance_levels(2).instance_fraction(0.5);
  for (const NormOptions& norm : {NormOptions(NormKind::kBatch), ibna}) {
    SCOPED_TRACE(norm.instance_levels() > 0 ? "IBN-a" : "batch norm");
    UNet3d net = trained_like(UNet3dOptions(1, 3).base_features(8).max_features(32).depth(3).norm(norm));
    const InferenceUNet3d folded(net, 0, InferenceUNet3dOptions().bf16(true));
    if (!cpu_features().native_bf16()) {
      EXPECT_FALSE(OnednnUNet3d::supports(folded));
      EXPECT_THROW(OnednnUNet3d{folded}, ModelError);
      continue;
    }
    ASSERT_TRUE(OnednnUNet3d::supports(folded));
    const torch::Tensor x = torch::randn({2, 1, 16, 16, 16});
    const torch::Tensor ref = reference(net, x, 0, /*bf16=*/true);
    const double agree_libtorch =
        folded.forward(x).argmax(1).eq(ref.argmax(1)).to(torch::kDouble).mean().item<double>();
    // oneDNN alone, and the default (with AMX: the first layer on the direct
    // kernel, which writes bf16 for the next layer; IBN-a's first layer has
    // instance channels, so it stays with oneDNN).
    for (const DirectKernels kernels : {DirectKernels::never, DirectKernels::where_faster}) {
      SCOPED_TRACE(kernels == DirectKernels::never ? "oneDNN only" : "default");
      const OnednnUNet3d direct(folded, kernels);
      const torch::Tensor out = direct.forward(x);
      const bool first_direct = kernels != DirectKernels::never && direct_conv_available() &&
                                cpu_features().usable_amx_bf16() && norm.instance_levels() == 0;
      EXPECT_EQ(direct.direct_layers(), first_direct ? 1 : 0);
      EXPECT_EQ(out.scalar_type(), torch::kFloat);
      EXPECT_TRUE(all_close(out, ref, 0.05, 0.05 * ref.abs().max().item<double>()));
      // It does run in bf16: float32 would agree far more closely.
      EXPECT_FALSE(all_close(out, reference(net, x, 0), 1e-4, 1e-4));
      // Labels: as the LibTorch bf16 path agrees with the autocast UNet, or better.
      const double agree = out.argmax(1).eq(ref.argmax(1)).to(torch::kDouble).mean().item<double>();
      EXPECT_GE(agree, std::min(0.99, agree_libtorch - 0.005)) << agree << " vs " << agree_libtorch;
    }
  }
}

}  // namespace
}  // namespace medseg::models
