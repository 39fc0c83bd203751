// DomainBatchNorm against independent references: torch::nn::BatchNorm3d
// (one domain, and one BatchNorm3d per domain for several domains), exact
// statistics computed from the data (AdaBN), and the Batch Renormalization
// formulas written out with plain ATen ops.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <tuple>
#include <vector>

#include "models/batch_stats_reduction.h"
#include "models/domain_batch_norm.h"
#include "core/error.h"
#include "tests/models/domain_batch_norm_helpers.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;
using testing::ids_of;
using testing::kTol;
using testing::randomize_affine;
using testing::snapshot;
using testing::throws_with;
using torch::Tensor;

// How the one-domain layer is driven.
enum class Path { kNative, kReductionHook, kRenormWithoutCorrection };

std::string path_name(Path path) {
  switch (path) {
    case Path::kNative: return "Native";
    case Path::kReductionHook: return "ReductionHook";
    case Path::kRenormWithoutCorrection: return "RenormRmax1Dmax0";
  }
  return "";
}

DomainBatchNorm make_one_domain(int64_t channels, c10::optional<double> momentum, Path path) {
  auto options = DomainBatchNormOptions(channels).momentum(momentum);
  if (path == Path::kRenormWithoutCorrection) options.renorm(true).r_max(1.0).d_max(0.0);
  DomainBatchNorm bn(options);
  if (path == Path::kReductionHook) bn->set_reduction(std::make_shared<LocalBatchStatsReduction>());
  return bn;
}

class MatchesBatchNorm3d : public ::testing::TestWithParam<std::tuple<Path, bool>> {};

// Five-plus training steps on inputs of different shapes, then eval: outputs,
// input/weight/bias gradients, running statistics and num_batches_tracked.
TEST_P(MatchesBatchNorm3d, OverSixTrainingStepsThenEval) {
  const auto [path, momentum_unset] = GetParam();
  const c10::optional<double> momentum =
      momentum_unset ? c10::optional<double>() : c10::optional<double>(0.1);
  constexpr int64_t kC = 3;
  torch::manual_seed(1);
  torch::nn::BatchNorm3d ref(torch::nn::BatchNorm3dOptions(kC).momentum(momentum));
  DomainBatchNorm bn = make_one_domain(kC, momentum, path);
  randomize_affine(ref->weight, ref->bias);
  {
    torch::NoGradGuard no_grad;
    bn->weight.copy_(ref->weight);
    bn->bias.copy_(ref->bias);
  }
  const std::vector<std::vector<int64_t>> shapes = {{2, kC, 3, 4, 5}, {3, kC, 2, 2, 3}, {1, kC, 4, 3, 2},
                                                    {4, kC, 1, 2, 2}, {2, kC, 5, 1, 3}, {3, kC, 2, 3, 3}};
  auto step = [&](const std::vector<int64_t>& shape, double scale, double shift, const std::string& what) {
    const Tensor x = torch::randn(shape) * scale + shift;
    const Tensor g = torch::randn(shape);
    const Tensor xr = x.clone().requires_grad_(true);
    const Tensor xb = x.clone().requires_grad_(true);
    const Tensor yr = ref(xr);
    const Tensor yb = bn(xb);
    EXPECT_TRUE(all_close(yb, yr, kTol, kTol)) << what << ": output";
    (yr * g).sum().backward();
    (yb * g).sum().backward();
    EXPECT_TRUE(all_close(xb.grad(), xr.grad(), kTol, kTol)) << what << ": input gradient";
    EXPECT_TRUE(all_close(bn->weight.grad(), ref->weight.grad(), kTol, kTol)) << what << ": weight gradient";
    EXPECT_TRUE(all_close(bn->bias.grad(), ref->bias.grad(), kTol, kTol)) << what << ": bias gradient";
    EXPECT_TRUE(all_close(bn->running_mean, ref->running_mean, kTol, kTol)) << what << ": running_mean";
    EXPECT_TRUE(all_close(bn->running_var, ref->running_var, kTol, kTol)) << what << ": running_var";
    EXPECT_EQ(bn->num_batches_tracked.sizes(), ref->num_batches_tracked.sizes());
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), ref->num_batches_tracked.item<int64_t>()) << what;
    for (auto* p : {&ref->weight, &ref->bias, &bn->weight, &bn->bias}) p->mutable_grad().reset();
  };
  for (size_t i = 0; i < shapes.size(); ++i) {
    step(shapes[i], 1.0 + 0.5 * static_cast<double>(i), 0.3 * static_cast<double>(i),
         "train step " + std::to_string(i + 1));
  }
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 6);
  ref->eval();
  bn->eval();
  step({2, kC, 3, 2, 2}, 2.0, 1.0, "eval step 1");
  step({1, kC, 1, 1, 1}, 1.0, 0.0, "eval step 2 (one value per channel is fine in eval)");
}

INSTANTIATE_TEST_SUITE_P(
    DomainBatchNorm, MatchesBatchNorm3d,
    ::testing::Combine(::testing::Values(Path::kNative, Path::kReductionHook, Path::kRenormWithoutCorrection),
                       ::testing::Bool()),
    [](const auto& test) {
      return path_name(std::get<0>(test.param)) + (std::get<1>(test.param) ? "MomentumUnset" : "Momentum01");
    });

TEST(DomainBatchNorm, MatchesBatchNorm3dWithoutAffineAndWithoutRunningStats) {
  for (const bool hook : {false, true}) {
    torch::manual_seed(2);
    torch::nn::BatchNorm3d ref(torch::nn::BatchNorm3dOptions(2).affine(false).track_running_stats(false));
    DomainBatchNorm bn(DomainBatchNormOptions(2).affine(false).track_running_stats(false));
    if (hook) bn->set_reduction(std::make_shared<LocalBatchStatsReduction>());
    EXPECT_FALSE(bn->weight.defined());
    EXPECT_FALSE(bn->running_mean.defined());
    for (const bool training : {true, false}) {
      ref->train(training);
      bn->train(training);
      const Tensor x = torch::randn({3, 2, 2, 3, 2}) * 2 + 1;
      const Tensor g = torch::randn_like(x);
      const Tensor xr = x.clone().requires_grad_(true);
      const Tensor xb = x.clone().requires_grad_(true);
      (ref(xr) * g).sum().backward();
      const Tensor yb = bn(xb);
      (yb * g).sum().backward();
      EXPECT_TRUE(all_close(yb, ref(x), kTol, kTol)) << "hook " << hook << " training " << training;
      EXPECT_TRUE(all_close(xb.grad(), xr.grad(), kTol, kTol)) << "hook " << hook << " training " << training;
    }
  }
}

TEST(DomainBatchNorm, StateDictMovesToAndFromBatchNorm3dUnchanged) {
  torch::manual_seed(3);
  DomainBatchNorm bn(4);
  randomize_affine(bn->weight, bn->bias);
  for (int i = 0; i < 3; ++i) bn(torch::randn({2, 4, 2, 3, 2}) * 3 + 1);

  torch::nn::BatchNorm3d ref(4);
  const auto bn_params = bn->named_parameters();
  const auto ref_params = ref->named_parameters();
  const auto bn_buffers = bn->named_buffers();
  const auto ref_buffers = ref->named_buffers();
  EXPECT_EQ(bn_params.keys(), ref_params.keys());
  EXPECT_EQ(bn_buffers.keys(), ref_buffers.keys());
  for (const auto& key : ref_buffers.keys()) EXPECT_EQ(bn_buffers[key].sizes(), ref_buffers[key].sizes()) << key;

  // DomainBatchNorm → archive → BatchNorm3d
  std::stringstream stream;
  torch::save(bn, stream);
  torch::load(ref, stream);
  for (const auto& [key, value] : snapshot(*bn)) {
    const Tensor other = ref->named_parameters().contains(key) ? ref->named_parameters()[key]
                                                               : ref->named_buffers()[key];
    EXPECT_TRUE(torch::equal(other, value)) << key;
  }
  bn->eval();
  ref->eval();
  const Tensor x = torch::randn({2, 4, 3, 2, 2});
  EXPECT_TRUE(torch::equal(bn(x), ref(x)));

  // BatchNorm3d (trained further) → archive → fresh DomainBatchNorm
  ref->train();
  for (int i = 0; i < 2; ++i) ref(torch::randn({3, 4, 2, 2, 2}) - 2);
  std::stringstream back;
  torch::save(ref, back);
  DomainBatchNorm fresh(4);
  torch::load(fresh, back);
  for (const auto& [key, value] : snapshot(*ref)) {
    const Tensor other = fresh->named_parameters().contains(key) ? fresh->named_parameters()[key]
                                                                 : fresh->named_buffers()[key];
    EXPECT_TRUE(torch::equal(other, value)) << key;
  }
  ref->eval();
  fresh->eval();
  EXPECT_TRUE(torch::equal(fresh(x), ref(x)));
}

TEST(DomainBatchNorm, MultiDomainStateDictRoundTrip) {
  torch::manual_seed(4);
  DomainBatchNorm bn(DomainBatchNormOptions(3).num_domains(3).domain_affine(true));
  randomize_affine(bn->weight, bn->bias);
  bn(torch::randn({4, 3, 2, 2, 2}), ids_of({0, 2, 2, 1}));
  EXPECT_EQ(bn->running_mean.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(bn->num_batches_tracked.sizes(), (std::vector<int64_t>{3}));
  EXPECT_EQ(bn->weight.sizes(), (std::vector<int64_t>{3, 3}));
  std::stringstream stream;
  torch::save(bn, stream);
  DomainBatchNorm loaded(DomainBatchNormOptions(3).num_domains(3).domain_affine(true));
  torch::load(loaded, stream);
  const auto a = snapshot(*bn);
  const auto b = snapshot(*loaded);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(DomainBatchNorm, CloneIsADeepCopyThatBehavesTheSame) {
  torch::manual_seed(5);
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2).domain_affine(true).renorm(true));
  randomize_affine(bn->weight, bn->bias);
  bn(torch::randn({3, 2, 2, 2, 3}), ids_of({1, 0, 1}));
  auto copy = std::dynamic_pointer_cast<DomainBatchNormImpl>(bn->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->num_domains(), 2);
  EXPECT_TRUE(copy->options.renorm());
  const auto a = snapshot(*bn);
  const auto b = snapshot(*copy);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_NE(copy->weight.data_ptr(), bn->weight.data_ptr());
  EXPECT_NE(copy->running_mean.data_ptr(), bn->running_mean.data_ptr());

  const Tensor x = torch::randn({4, 2, 2, 3, 2});
  const Tensor ids = ids_of({0, 1, 1, 0});
  EXPECT_TRUE(torch::equal(copy->forward(x, ids), bn(x, ids)));  // train: same update on both
  EXPECT_TRUE(torch::equal(copy->running_var, bn->running_var));
  {
    torch::NoGradGuard no_grad;
    copy->weight.add_(1.0);
    copy->running_mean.add_(1.0);
  }
  EXPECT_EQ(a[0].first, "weight");
  EXPECT_TRUE(torch::equal(bn->weight, a[0].second));
  EXPECT_FALSE(torch::equal(copy->weight, bn->weight));
  EXPECT_FALSE(torch::equal(copy->running_mean, bn->running_mean));
}

// ---------------------------------------------------------------- domains

class MultiDomain : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

// Each sample of a mixed batch gets exactly what a one-domain layer fed only
// that domain's samples gives it: outputs, gradients, running statistics.
TEST_P(MultiDomain, EachSampleGetsWhatAOneDomainLayerFedOnlyItsDomainGives) {
  const auto [domain_affine, momentum_unset] = GetParam();
  const c10::optional<double> momentum =
      momentum_unset ? c10::optional<double>() : c10::optional<double>(0.1);
  constexpr int64_t kC = 2;
  constexpr int64_t kK = 3;
  torch::manual_seed(6);
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(kK).domain_affine(domain_affine).momentum(momentum));
  randomize_affine(bn->weight, bn->bias);
  std::vector<torch::nn::BatchNorm3d> refs;
  for (int64_t k = 0; k < kK; ++k) {
    refs.emplace_back(torch::nn::BatchNorm3dOptions(kC).momentum(momentum));
    torch::NoGradGuard no_grad;
    refs[k]->weight.copy_(domain_affine ? bn->weight[k] : bn->weight);
    refs[k]->bias.copy_(domain_affine ? bn->bias[k] : bn->bias);
  }
  // Batches: mixed, one domain absent, a single-domain batch (fused path),
  // then eval.
  const std::vector<std::vector<int64_t>> batches = {
      {2, 0, 2, 1, 0}, {1, 1, 0, 0}, {0, 2, 2}, {1, 1, 1}, {2, 1, 0, 1, 2}, {0, 2}};
  for (size_t step = 0; step < batches.size() + 2; ++step) {
    const bool eval = step >= batches.size();
    if (eval) {
      bn->eval();
      for (auto& r : refs) r->eval();
    }
    const std::vector<int64_t> ids = eval ? std::vector<int64_t>{1, 0, 2, 2} : batches[step];
    const auto n = static_cast<int64_t>(ids.size());
    const Tensor id_tensor = ids_of(ids);
    // Domain k's intensities are shifted and scaled: a different "scanner".
    const Tensor shift = (id_tensor.to(torch::kFloat) * 3.0 - 2.0).view({n, 1, 1, 1, 1});
    const Tensor scale = (id_tensor.to(torch::kFloat) + 1.0).view({n, 1, 1, 1, 1});
    const Tensor x = torch::randn({n, kC, 2, 3, 2}) * scale + shift;
    const Tensor g = torch::randn_like(x);
    const Tensor xb = x.clone().requires_grad_(true);
    const Tensor y = bn(xb, id_tensor);
    (y * g).sum().backward();
    Tensor expected_weight_grad = torch::zeros_like(bn->weight);
    Tensor expected_bias_grad = torch::zeros_like(bn->bias);
    const std::string what = "step " + std::to_string(step + 1);
    for (int64_t k = 0; k < kK; ++k) {
      const Tensor rows = (id_tensor == k).nonzero().view({-1});
      if (rows.numel() == 0) {
        EXPECT_EQ(bn->num_batches_tracked[k].item<int64_t>(), refs[k]->num_batches_tracked.item<int64_t>());
        continue;
      }
      const Tensor xr = x.index_select(0, rows).clone().requires_grad_(true);
      const Tensor yr = refs[k](xr);
      (yr * g.index_select(0, rows)).sum().backward();
      EXPECT_TRUE(all_close(y.index_select(0, rows), yr, kTol, kTol)) << what << " domain " << k << ": output";
      EXPECT_TRUE(all_close(xb.grad().index_select(0, rows), xr.grad(), kTol, kTol))
          << what << " domain " << k << ": input gradient";
      if (domain_affine) {
        expected_weight_grad[k].copy_(refs[k]->weight.grad());
        expected_bias_grad[k].copy_(refs[k]->bias.grad());
      } else {
        expected_weight_grad += refs[k]->weight.grad();
        expected_bias_grad += refs[k]->bias.grad();
      }
      refs[k]->weight.mutable_grad().reset();
      refs[k]->bias.mutable_grad().reset();
    }
    EXPECT_TRUE(all_close(bn->weight.grad(), expected_weight_grad, kTol, kTol)) << what << ": weight gradient";
    EXPECT_TRUE(all_close(bn->bias.grad(), expected_bias_grad, kTol, kTol)) << what << ": bias gradient";
    bn->weight.mutable_grad().reset();
    bn->bias.mutable_grad().reset();
    for (int64_t k = 0; k < kK; ++k) {
      EXPECT_TRUE(all_close(bn->running_mean[k], refs[k]->running_mean, kTol, kTol)) << what << " domain " << k;
      EXPECT_TRUE(all_close(bn->running_var[k], refs[k]->running_var, kTol, kTol)) << what << " domain " << k;
      EXPECT_EQ(bn->num_batches_tracked[k].item<int64_t>(), refs[k]->num_batches_tracked.item<int64_t>())
          << what << " domain " << k;
    }
  }
  EXPECT_EQ(bn->num_batches_tracked[2].item<int64_t>(), 4);  // absent from batches 2 and 4
}

INSTANTIATE_TEST_SUITE_P(DomainBatchNorm, MultiDomain, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& test) {
                           return std::string(std::get<0>(test.param) ? "DomainAffine" : "SharedAffine") +
                                  (std::get<1>(test.param) ? "MomentumUnset" : "Momentum01");
                         });

TEST(DomainBatchNorm, TestBatchStatisticsInEvalNormalizeWithTheInputItself) {
  torch::manual_seed(9);
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2).test_batch_stats(true));
  randomize_affine(bn->weight, bn->bias);
  bn(torch::randn({2, 2, 2, 2, 2}), ids_of({0, 1}));
  auto train_copy = std::dynamic_pointer_cast<DomainBatchNormImpl>(bn->clone());
  bn->eval();
  const auto before = snapshot(*bn);
  for (const auto& ids : {std::vector<int64_t>{1, 0, 1, 0}, std::vector<int64_t>{1, 1, 1, 1}}) {
    const Tensor x = torch::randn({4, 2, 3, 2, 2}) * 7 + 20;
    const Tensor y = bn(x, ids_of(ids));
    EXPECT_TRUE(all_close(y, train_copy->forward(x, ids_of(ids)), kTol, kTol));
  }
  const auto after = snapshot(*bn);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i].second, after[i].second));
}

// ------------------------------------------------------------------ renorm

// Batch Renormalization against the formulas written out with plain ATen ops
// in float64 (r and d detached), across the warm-up ramp and with clipping.
TEST(DomainBatchNorm, RenormMatchesTheFormulasOverTheWarmUp) {
  constexpr int64_t kC = 2;
  constexpr double kEps = 1e-5;
  constexpr double kMomentum = 0.2;
  torch::manual_seed(10);
  DomainBatchNorm bn(DomainBatchNormOptions(kC).renorm(true).r_max(1.5).d_max(0.5).renorm_warmup_steps(3).momentum(
      kMomentum));
  bn->to(torch::kDouble);
  randomize_affine(bn->weight, bn->bias);
  Tensor gamma = bn->weight.detach().clone().requires_grad_(true);
  Tensor beta = bn->bias.detach().clone().requires_grad_(true);
  Tensor mean = torch::zeros({kC}, torch::kDouble);
  Tensor var = torch::ones({kC}, torch::kDouble);
  bool clipped_r = false;
  bool clipped_d = false;
  for (int64_t t = 1; t <= 6; ++t) {
    const Tensor x = torch::randn({3, kC, 2, 3, 2}, torch::kDouble) * (0.5 + t) + 0.7 * t;
    const Tensor g = torch::randn_like(x);
    // reference
    const double ramp = std::min(1.0, static_cast<double>(t - 1) / 3.0);
    const double r_lim = 1.0 + 0.5 * ramp;
    const double d_lim = 0.5 * ramp;
    const Tensor xr = x.clone().requires_grad_(true);
    const Tensor mu_b = xr.mean({0, 2, 3, 4});
    const Tensor var_b = xr.var({0, 2, 3, 4}, /*unbiased=*/false);
    const Tensor sigma = (var + kEps).sqrt();
    const Tensor r_raw = ((var_b.detach() + kEps).sqrt() / sigma);
    const Tensor d_raw = (mu_b.detach() - mean) / sigma;
    const Tensor r = r_raw.clamp(1.0 / r_lim, r_lim);
    const Tensor d = d_raw.clamp(-d_lim, d_lim);
    clipped_r = clipped_r || !torch::equal(r, r_raw);
    clipped_d = clipped_d || !torch::equal(d, d_raw);
    const auto ch = [](const Tensor& v) { return v.view({1, -1, 1, 1, 1}); };
    const Tensor xhat = (xr - ch(mu_b)) / ch((var_b + kEps).sqrt());
    const Tensor yr = (xhat * ch(r) + ch(d)) * ch(gamma) + ch(beta);
    (yr * g).sum().backward();
    const double n = static_cast<double>(x.numel() / kC);
    mean = (1 - kMomentum) * mean + kMomentum * mu_b.detach();
    var = (1 - kMomentum) * var + kMomentum * var_b.detach() * n / (n - 1);
    // layer
    const Tensor xb = x.clone().requires_grad_(true);
    const Tensor yb = bn(xb);
    (yb * g).sum().backward();
    const std::string what = "step " + std::to_string(t);
    EXPECT_TRUE(all_close(yb, yr, 1e-10, 1e-10)) << what;
    EXPECT_TRUE(all_close(xb.grad(), xr.grad(), 1e-10, 1e-10)) << what;
    EXPECT_TRUE(all_close(bn->weight.grad(), gamma.grad(), 1e-10, 1e-10)) << what;
    EXPECT_TRUE(all_close(bn->bias.grad(), beta.grad(), 1e-10, 1e-10)) << what;
    EXPECT_TRUE(all_close(bn->running_mean, mean, 1e-12, 1e-12)) << what;
    EXPECT_TRUE(all_close(bn->running_var, var, 1e-12, 1e-12)) << what;
    for (auto* p : {&bn->weight, &bn->bias, &gamma, &beta}) p->mutable_grad().reset();
  }
  EXPECT_TRUE(clipped_r);
  EXPECT_TRUE(clipped_d);
  // Eval uses the running statistics like batch norm.
  bn->eval();
  const Tensor x = torch::randn({2, kC, 2, 2, 2}, torch::kDouble);
  const auto ch = [](const Tensor& v) { return v.view({1, -1, 1, 1, 1}); };
  EXPECT_TRUE(all_close(bn(x), (x - ch(mean)) / ch((var + kEps).sqrt()) * ch(gamma.detach()) + ch(beta.detach()),
                        1e-10, 1e-10));
}

// ------------------------------------------------------------------ errors

TEST(DomainBatchNorm, BadInputsAreReportedWithTheActualValues) {
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2));
  const Tensor x = torch::randn({2, 2, 2, 2, 2});
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(x, ids_of({0, 2})); },
                                      {"domain id 2 of sample 1 is out of range", "2 domain(s)", "0..1"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(x, ids_of({-1, 0})); }, {"domain id -1 of sample 0"}));
  bn->eval();
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(x, ids_of({0, 5})); }, {"domain id 5"}));
  bn->train();
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(x, torch::zeros({2}, torch::kInt)); }, {"int64", "Int"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(x, ids_of({0, 1, 1})); }, {"[N] = [2]", "[3]"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({2, 3, 2, 2, 2})); }, {"expected 2 channels", "[2, 3, 2, 2, 2]"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({2, 2, 4})); }, {"5-D input", "3-D", "[2, 2, 4]"}));

  // One value per channel: no variance to normalize with.
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({1, 2, 1, 1, 1})); },
                                      {"more than 1 value per channel", "[1, 2, 1, 1, 1]"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({3, 2, 1, 1, 1}), ids_of({0, 1, 0})); },
                                      {"more than 1 value per channel", "domain 1 has 1"}));
  bn->set_reduction(std::make_shared<LocalBatchStatsReduction>());
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({1, 2, 1, 1, 1})); },
                                      {"more than 1 value per channel", "domain 0 has 1"}));
  bn->eval();
  EXPECT_NO_THROW(bn(torch::randn({1, 2, 1, 1, 1})));  // running statistics: fine

  {
    DomainBatchNorm mixed(DomainBatchNormOptions(2).num_domains(2));
    const Tensor xg = torch::randn({2, 2, 2, 2, 2}).requires_grad_(true);
    const Tensor y = mixed(xg, ids_of({0, 1}));
    EXPECT_TRUE(throws_with<ModelError>(
        [&] { torch::autograd::grad({(y * y).sum()}, {xg}, {}, true, /*create_graph=*/true); },
        {"double backward"}));
  }
  EXPECT_TRUE(throws_with<ModelError>([] { DomainBatchNorm(DomainBatchNormOptions(2).num_domains(0)); },
                                      {"num_domains must be >= 1, got 0"}));
  EXPECT_TRUE(throws_with<ModelError>(
      [] { DomainBatchNorm(DomainBatchNormOptions(2).renorm(true).track_running_stats(false)); },
      {"renorm needs running statistics"}));
  EXPECT_TRUE(throws_with<ModelError>([] { DomainBatchNorm(DomainBatchNormOptions(2).renorm(true).r_max(0.5)); },
                                      {"r_max must be >= 1, got 0.5"}));
}

// --------------------------------------------------------------------- bf16

// Input from a convolution under CPU autocast arrives as bfloat16: the output
// keeps bfloat16, statistics come out as from the same values in float32.
TEST(DomainBatchNorm, Bfloat16InputFromAutocast) {
  torch::manual_seed(11);
  torch::nn::Conv3d conv(torch::nn::Conv3dOptions(2, 3, 1));
  for (const bool mixed : {false, true}) {
    DomainBatchNorm bn(DomainBatchNormOptions(3).num_domains(2));
    randomize_affine(bn->weight, bn->bias);
    const Tensor x = torch::randn({4, 2, 3, 2, 3});
    const Tensor ids = mixed ? ids_of({0, 1, 1, 0}) : ids_of({1, 1, 1, 1});
    Tensor h;
    Tensor y;
    {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(torch::kBFloat16);
      h = conv(x);
      y = bn(h, ids);
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
    }
    ASSERT_EQ(h.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16) << "mixed " << mixed;
    EXPECT_EQ(bn->running_mean.scalar_type(), torch::kFloat);
    y.to(torch::kFloat).pow(2).sum().backward();
    ASSERT_TRUE(conv->weight.grad().defined());
    EXPECT_TRUE(conv->weight.grad().isfinite().all().item<bool>());

    // Same values in float32 through a fresh layer with the same parameters.
    DomainBatchNorm reference(DomainBatchNormOptions(3).num_domains(2));
    {
      torch::NoGradGuard no_grad;
      reference->weight.copy_(bn->weight);
      reference->bias.copy_(bn->bias);
    }
    const Tensor yf = reference(h.detach().to(torch::kFloat), ids);
    EXPECT_TRUE(all_close(y.to(torch::kFloat), yf, 1e-2, 1e-2)) << "mixed " << mixed;
    EXPECT_TRUE(all_close(bn->running_mean, reference->running_mean, 1e-5, 1e-5)) << "mixed " << mixed;
    EXPECT_TRUE(all_close(bn->running_var, reference->running_var, 1e-5, 1e-5)) << "mixed " << mixed;

    bn->eval();
    reference->eval();
    const Tensor hb = h.detach();
    EXPECT_TRUE(all_close(bn(hb, ids).to(torch::kFloat), reference(hb.to(torch::kFloat), ids), 1e-2, 1e-2));
    conv->weight.mutable_grad().reset();
    conv->bias.mutable_grad().reset();
  }
}

TEST(DomainBatchNorm, PrettyPrintShowsTheOptions) {
  std::ostringstream s;
  DomainBatchNorm(DomainBatchNormOptions(8).num_domains(2).momentum(c10::nullopt).renorm(true))->pretty_print(s);
  EXPECT_EQ(s.str(),
            "medseg::models::DomainBatchNorm(8, num_domains=2, eps=1e-05, momentum=None, affine=true, "
            "track_running_stats=true, renorm=true, r_max=3, d_max=5, renorm_warmup_steps=100)");
}

}  // namespace
}  // namespace medseg::models
