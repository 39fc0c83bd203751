#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/domain_batch_norm.h"
#include "core/error.h"
#include "models/norm.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;
using testing::throws_with;
using torch::Tensor;

TEST(Norm, ParsesEveryKindByNameAndRejectsOthers) {
  for (const NormKind kind :
       {NormKind::kBatch, NormKind::kInstance, NormKind::kGroup, NormKind::kBatchRenorm, NormKind::kNone}) {
    EXPECT_EQ(parse_norm_kind(to_string(kind)), kind);
  }
  EXPECT_EQ(parse_norm_kind("batch_renorm"), NormKind::kBatchRenorm);
  EXPECT_TRUE(throws_with<ConfigError>([] { parse_norm_kind("BatchNorm"); },
                                       {"'BatchNorm'", "batch, instance, group, batch_renorm, none"}));
}

TEST(Norm, BuildsTheRequestedLayerWithTheGivenOptions) {
  auto batch = make_norm(NormOptions(NormKind::kBatch).num_domains(3).domain_affine(true).momentum(0.01).eps(1e-3), 8);
  auto* bn = batch.ptr()->as<DomainBatchNormImpl>();
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->num_domains(), 3);
  EXPECT_FALSE(bn->options.renorm());
  EXPECT_EQ(bn->weight.sizes(), (std::vector<int64_t>{3, 8}));
  EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.01);
  EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);

  auto renorm = make_norm(NormOptions(NormKind::kBatchRenorm).r_max(2.0).d_max(1.0).renorm_warmup_steps(7), 4);
  auto* rn = renorm.ptr()->as<DomainBatchNormImpl>();
  ASSERT_NE(rn, nullptr);
  EXPECT_TRUE(rn->options.renorm());
  EXPECT_DOUBLE_EQ(rn->options.r_max(), 2.0);
  EXPECT_DOUBLE_EQ(rn->options.d_max(), 1.0);
  EXPECT_EQ(rn->options.renorm_warmup_steps(), 7);

  auto instance = make_norm(NormKind::kInstance, 4);
  auto* in = instance.ptr()->as<torch::nn::InstanceNorm3dImpl>();
  ASSERT_NE(in, nullptr);
  EXPECT_TRUE(in->options.affine());
  EXPECT_FALSE(in->options.track_running_stats());

  auto group = make_norm(NormOptions(NormKind::kGroup).num_groups(2), 4);
  auto* gn = group.ptr()->as<torch::nn::GroupNormImpl>();
  ASSERT_NE(gn, nullptr);
  EXPECT_EQ(gn->options.num_groups(), 2);

  auto none = make_norm(NormKind::kNone, 4);
  EXPECT_NE(none.ptr()->as<torch::nn::IdentityImpl>(), nullptr);
}

TEST(Norm, ApplyNormNormalizesAsEachKindPromises) {
  torch::manual_seed(41);
  const Tensor ids = torch::tensor({0, 1, 0, 1}, torch::kLong);
  // Domain 1 is a "scanner" with intensities shifted by +10.
  const Tensor x = torch::randn({4, 4, 3, 3, 2}) * 5 + 2 + 10 * ids.to(torch::kFloat).view({4, 1, 1, 1, 1});
  const auto moments = [](const Tensor& t, std::vector<int64_t> dims) {
    return std::make_pair(t.mean(dims), t.var(dims, /*unbiased=*/false));
  };

  // batch with two domains: each domain's samples get zero mean, unit variance per channel
  auto batch = make_norm(NormOptions(NormKind::kBatch).num_domains(2), 4);
  const Tensor yb = apply_norm(batch, x, ids);
  for (const int64_t k : {0, 1}) {
    const auto [m, v] = moments(yb.index_select(0, (ids == k).nonzero().view({-1})), {0, 2, 3, 4});
    EXPECT_TRUE(all_close(m, torch::zeros({4}), 0, 1e-5)) << "domain " << k;
    EXPECT_TRUE(all_close(v, torch::ones({4}), 0, 1e-3)) << "domain " << k;
  }

  // instance: per sample and channel
  auto instance = make_norm(NormKind::kInstance, 4);
  const auto [mi, vi] = moments(apply_norm(instance, x, ids), {2, 3, 4});
  EXPECT_TRUE(all_close(mi, torch::zeros({4, 4}), 0, 1e-5));
  EXPECT_TRUE(all_close(vi, torch::ones({4, 4}), 0, 1e-3));

  // group (2 groups of 2 channels): per sample and group
  auto group = make_norm(NormOptions(NormKind::kGroup).num_groups(2), 4);
  const Tensor yg = apply_norm(group, x).view({4, 2, -1});
  const auto [mg, vg] = moments(yg, {2});
  EXPECT_TRUE(all_close(mg, torch::zeros({4, 2}), 0, 1e-5));
  EXPECT_TRUE(all_close(vg, torch::ones({4, 2}), 0, 1e-3));

  auto none = make_norm(NormKind::kNone, 4);
  EXPECT_TRUE(torch::equal(apply_norm(none, x, ids), x));

  // Without the ids every sample counts as domain 0: domain 1's samples stay shifted.
  auto shared = make_norm(NormOptions(NormKind::kBatch).num_domains(2), 4);
  EXPECT_GT(apply_norm(shared, x).index_select(0, torch::tensor({1, 3})).mean().item<double>(), 0.5);
}

TEST(Norm, InvalidOptionsAreConfigErrors) {
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormOptions(NormKind::kGroup).num_groups(3), 8); },
                                       {"num_groups = 3", "8 channels"}));
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormOptions(NormKind::kGroup).num_groups(0), 8); },
                                       {"num_groups = 0"}));
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormOptions(NormKind::kBatch).num_domains(0), 8); },
                                       {"norm: DomainBatchNorm: num_domains must be >= 1, got 0"}));
  EXPECT_TRUE(throws_with<ConfigError>([] { make_norm(NormKind::kBatch, 0); }, {"num_features must be >= 1"}));
}

}  // namespace
}  // namespace medseg::models
