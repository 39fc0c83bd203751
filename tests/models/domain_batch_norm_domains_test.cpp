// DomainBatchNorm's domains against exact references: an absent domain is
// untouched, AdaBN statistics equal the moments computed from the data, a
// new domain starts from the pooled statistics (models/domain_batch_norm_domains.cpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "core/error.h"
#include "models/domain_batch_norm.h"
#include "tests/models/domain_batch_norm_helpers.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

// all_close, throws_with, kTol, snapshot, randomize_affine, ids_of.
using namespace medseg::models::testing;  // NOLINT(google-build-using-namespace)
using torch::Tensor;

TEST(DomainBatchNorm, AbsentDomainIsUntouched) {
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(3));
  const auto before = bn->running_mean.clone();
  bn(torch::randn({3, 2, 2, 2, 2}) + 5, ids_of({0, 2, 0}));
  EXPECT_TRUE(torch::equal(bn->running_mean[1], before[1]));
  EXPECT_TRUE(torch::equal(bn->running_var[1], torch::ones({2})));
  EXPECT_EQ(bn->num_batches_tracked[1].item<int64_t>(), 0);
  EXPECT_FALSE(torch::equal(bn->running_mean[0], before[0]));
}

// --------------------------------------------------------------- adaptation

TEST(DomainBatchNorm, AdaptationEstimatesExactStatisticsAndChangesNothingElse) {
  constexpr int64_t kC = 3;
  torch::manual_seed(7);
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2).domain_affine(true));
  randomize_affine(bn->weight, bn->bias);
  for (int i = 0; i < 4; ++i) bn(torch::randn({4, kC, 2, 2, 2}), ids_of({0, 1, 1, 0}));
  const auto before = snapshot(*bn);

  // Unlabeled data from a "new scanner": shifted and scaled intensities,
  // per-channel offsets, batches of different sizes, one batch in eval mode,
  // one mixed with domain-0 samples (which must not count).
  const Tensor channel_offset = torch::tensor({0.0F, 50.0F, -80.0F}).view({1, kC, 1, 1, 1});
  std::vector<Tensor> seen;
  bn->begin_adaptation(1);
  EXPECT_TRUE(bn->is_adapting());
  {
    torch::NoGradGuard no_grad;
    for (const int64_t n : {3, 1, 5, 2}) {
      const Tensor x = torch::randn({n, kC, 3, 2, 4}) * 40.0 + 300.0 + channel_offset;
      bn(x, torch::ones({n}, torch::kLong));
      seen.push_back(x);
    }
    bn->eval();
    const Tensor x = torch::randn({2, kC, 3, 2, 4}) * 40.0 + 300.0 + channel_offset;
    bn(x, ids_of({1, 1}));
    seen.push_back(x);
    bn->train();
    const Tensor mixed = torch::randn({3, kC, 3, 2, 4}) * 40.0 + 300.0 + channel_offset;
    bn(mixed, ids_of({1, 0, 1}));
    seen.push_back(mixed.index_select(0, ids_of({0, 2})));
    bn(torch::randn({2, kC, 3, 2, 4}), ids_of({0, 0}));  // domain 0 only: nothing to accumulate
  }
  bn->end_adaptation();
  EXPECT_FALSE(bn->is_adapting());

  // Exact statistics of everything domain 1 saw, in float64.
  const Tensor all = torch::cat(seen, 0).to(torch::kDouble).transpose(0, 1).reshape({kC, -1});
  const Tensor exact_mean = all.mean(1);
  const Tensor exact_var = all.var(1, /*unbiased=*/true);
  EXPECT_TRUE(all_close(bn->running_mean[1], exact_mean, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(bn->running_var[1], exact_var, 1e-6, 1e-6));
  EXPECT_EQ(bn->num_batches_tracked[1].item<int64_t>(), 6);

  for (const auto& [key, value] : snapshot(*bn)) {
    const auto it = std::find_if(before.begin(), before.end(), [&](const auto& p) { return p.first == key; });
    ASSERT_NE(it, before.end());
    if (key == "running_mean" || key == "running_var" || key == "num_batches_tracked") {
      EXPECT_TRUE(torch::equal(value[0], it->second[0])) << key << " of domain 0 changed";
    } else {
      EXPECT_TRUE(torch::equal(value, it->second)) << key << " changed";
    }
  }

  // Eval now normalizes domain 1 with the adapted statistics.
  bn->eval();
  const Tensor x = torch::randn({2, kC, 2, 2, 2}) * 40.0 + 300.0 + channel_offset;
  const Tensor expected = (x - bn->running_mean[1].view({1, kC, 1, 1, 1})) /
                              (bn->running_var[1].view({1, kC, 1, 1, 1}) + 1e-5).sqrt() *
                              bn->weight[1].view({1, kC, 1, 1, 1}) +
                          bn->bias[1].view({1, kC, 1, 1, 1});
  EXPECT_TRUE(all_close(bn(x, ids_of({1, 1})), expected, kTol, kTol));
}

// The estimate of a training run's running statistics: the average of the
// per-batch means and unbiased per-batch variances (not the pooled moments,
// which add the spread between batches), mixed with the domain's previous
// statistics by the prior weight.
TEST(DomainBatchNorm, BatchAverageEstimateMixedWithThePrior) {
  constexpr int64_t kC = 2;
  torch::manual_seed(9);
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2));
  for (int i = 0; i < 3; ++i) bn(torch::randn({4, kC, 2, 2, 2}) * 3 + 1, ids_of({0, 1, 1, 0}));
  const Tensor prior_mean = bn->running_mean[1].to(torch::kDouble).clone();
  const Tensor prior_var = bn->running_var[1].to(torch::kDouble).clone();
  const Tensor domain0_mean = bn->running_mean[0].clone();
  AdaptationEstimate estimate;
  estimate.kind = AdaptationEstimate::Kind::kBatchAverage;
  estimate.prior_weight = 0.25;
  bn->begin_adaptation(1, estimate);
  std::vector<Tensor> batches;
  {
    torch::NoGradGuard no_grad;
    for (const double shift : {10.0, -30.0, 50.0}) {  // batches far apart: pooled != averaged
      const Tensor x = torch::randn({2, kC, 3, 2, 2}) * 5.0 + shift;
      bn(x, ids_of({1, 1}));
      batches.push_back(x.to(torch::kDouble).transpose(0, 1).reshape({kC, -1}));
    }
  }
  bn->end_adaptation();
  Tensor mean_sum = torch::zeros({kC}, torch::kDouble), var_sum = torch::zeros({kC}, torch::kDouble);
  for (const auto& b : batches) {
    mean_sum += b.mean(1);
    var_sum += b.var(1, /*unbiased=*/true);
  }
  const Tensor expected_mean = 0.25 * prior_mean + 0.75 * mean_sum / 3.0;
  const Tensor expected_var = 0.25 * prior_var + 0.75 * var_sum / 3.0;
  EXPECT_TRUE(all_close(bn->running_mean[1], expected_mean, 1e-6, 1e-6)) << bn->running_mean[1] << expected_mean;
  EXPECT_TRUE(all_close(bn->running_var[1], expected_var, 1e-5, 1e-5)) << bn->running_var[1] << expected_var;
  // The pooled variance would be far larger here (batch means 10, -30, 50).
  const Tensor pooled_var = torch::cat(batches, 1).var(1, true);
  EXPECT_TRUE((pooled_var > 10.0 * var_sum / 3.0).all().item<bool>());
  EXPECT_EQ(bn->num_batches_tracked[1].item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(bn->running_mean[0], domain0_mean));

  AdaptationEstimate bad;
  bad.prior_weight = 1.0;
  EXPECT_TRUE(throws_with<ModelError>([&] { bn->begin_adaptation(1, bad); }, {"prior weight", "[0, 1)"}));
  EXPECT_FALSE(bn->is_adapting());
}

TEST(DomainBatchNorm, AdaptationOfAWholeModelAndItsErrors) {
  torch::nn::Sequential model(DomainBatchNorm(DomainBatchNormOptions(2).num_domains(2)),
                              DomainBatchNorm(DomainBatchNormOptions(2).num_domains(2)));
  EXPECT_TRUE(throws_with<ModelError>([&] { begin_adaptation(*model, 2); }, {"cannot adapt domain 2", "0..1"}));
  EXPECT_FALSE(model[0]->as<DomainBatchNormImpl>()->is_adapting());
  EXPECT_EQ(begin_adaptation(*model, 1), 2);
  EXPECT_TRUE(throws_with<ModelError>([&] { model[0]->as<DomainBatchNormImpl>()->begin_adaptation(0); },
                                      {"already adapting domain 1"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { end_adaptation(*model); }, {"saw 0 value(s)"}));
  EXPECT_FALSE(model[0]->as<DomainBatchNormImpl>()->is_adapting());  // the failing layer gave up
  auto* layer = model[1]->as<DomainBatchNormImpl>();
  EXPECT_TRUE(layer->is_adapting());
  layer->cancel_adaptation();
  EXPECT_TRUE(throws_with<ModelError>([&] { layer->end_adaptation(); }, {"without begin_adaptation"}));
  DomainBatchNorm untracked(DomainBatchNormOptions(2).track_running_stats(false));
  EXPECT_TRUE(throws_with<ModelError>([&] { untracked->begin_adaptation(0); }, {"track_running_stats"}));
}

TEST(DomainBatchNorm, AddDomainStartsFromThePooledStatistics) {
  torch::manual_seed(8);
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2).domain_affine(true));
  randomize_affine(bn->weight, bn->bias);
  for (int i = 0; i < 3; ++i) bn(torch::randn({2, 2, 2, 2, 2}) * 2 + 4, ids_of({0, 0}));
  bn(torch::randn({2, 2, 2, 2, 2}) - 3, ids_of({1, 1}));
  const Tensor mean = bn->running_mean.clone().to(torch::kDouble);
  const Tensor var = bn->running_var.clone().to(torch::kDouble);
  const Tensor weight = bn->weight.detach().clone().to(torch::kDouble);
  const Tensor w = torch::tensor({3.0 / 4.0, 1.0 / 4.0}, torch::kDouble).view({2, 1});  // by batches tracked
  const Tensor pooled_mean = (w * mean).sum(0);
  const Tensor pooled_var = (w * (var + (mean - pooled_mean).pow(2))).sum(0);

  const Tensor weight_before = bn->weight;
  EXPECT_EQ(bn->add_domain(), 2);
  EXPECT_EQ(bn->num_domains(), 3);
  EXPECT_EQ(bn->running_mean.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(bn->named_buffers()["running_mean"].sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(all_close(bn->running_mean.slice(0, 0, 2), mean, 0, 0));
  EXPECT_TRUE(all_close(bn->running_mean[2], pooled_mean, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(bn->running_var[2], pooled_var, 1e-6, 1e-6));
  EXPECT_EQ(bn->num_batches_tracked[2].item<int64_t>(), 0);
  EXPECT_TRUE(all_close(bn->weight[2], (w * weight).sum(0), 1e-6, 1e-6));
  EXPECT_TRUE(weight_before.is_same(bn->weight));  // same parameter, new shape
  EXPECT_EQ(bn->named_parameters()["weight"].sizes(), (std::vector<int64_t>{3, 2}));
  const Tensor y = bn(torch::randn({3, 2, 2, 2, 2}), ids_of({2, 0, 2}));
  y.sum().backward();
  EXPECT_EQ(bn->weight.grad().sizes(), (std::vector<int64_t>{3, 2}));

  DomainBatchNorm single(2);
  single(torch::randn({2, 2, 2, 2, 2}) + 1);
  EXPECT_EQ(single->add_domain(), 1);
  EXPECT_EQ(single->running_mean.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(single->num_batches_tracked.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(torch::equal(single->running_mean[1], single->running_mean[0]));
  EXPECT_EQ(single->weight.sizes(), (std::vector<int64_t>{2}));  // shared γ/β stay shared
  auto copy = std::dynamic_pointer_cast<DomainBatchNormImpl>(single->clone());
  EXPECT_EQ(copy->running_mean.sizes(), (std::vector<int64_t>{2, 2}));
}

}  // namespace
}  // namespace medseg::models
