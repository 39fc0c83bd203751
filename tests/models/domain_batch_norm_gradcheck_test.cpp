// Finite-difference gradient checks of DomainBatchNorm in float64, training
// mode. LibTorch's C++ API has no gradcheck, so this file carries a small
// central-difference checker: for L = Σ y·g with a fixed random g, every
// element θ_i of every input gets (L(θ_i + h) − L(θ_i − h)) / 2h, compared
// with the autograd gradient.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "models/batch_stats_reduction.h"
#include "models/domain_batch_norm.h"

namespace medseg::models {
namespace {

using torch::Tensor;

struct Checked {
  std::string name;
  Tensor tensor;  // float64 leaf that requires grad
};

// Returns "" if every analytic gradient element is within
// atol + rtol·|numeric| of its central difference, else a description.
std::string central_difference_mismatch(const std::function<Tensor()>& output, const Tensor& projection,
                                        const std::vector<Checked>& inputs, double step = 1e-6,
                                        double atol = 1e-6, double rtol = 1e-4) {
  std::vector<Tensor> leaves;
  for (const auto& in : inputs) leaves.push_back(in.tensor);
  const Tensor loss = (output() * projection).sum();
  const auto analytic = torch::autograd::grad({loss}, leaves, {}, /*retain_graph=*/false,
                                              /*create_graph=*/false, /*allow_unused=*/true);
  std::ostringstream report;
  torch::NoGradGuard no_grad;
  for (size_t j = 0; j < inputs.size(); ++j) {
    Tensor flat = inputs[j].tensor.view({-1});
    const Tensor grad = analytic[j].defined() ? analytic[j].reshape({-1}) : torch::zeros_like(flat);
    double* data = flat.data_ptr<double>();
    double max_abs_grad = 0.0;
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double saved = data[i];
      data[i] = saved + step;
      const double plus = (output() * projection).sum().item<double>();
      data[i] = saved - step;
      const double minus = (output() * projection).sum().item<double>();
      data[i] = saved;
      const double numeric = (plus - minus) / (2.0 * step);
      const double got = grad[i].item<double>();
      max_abs_grad = std::max(max_abs_grad, std::abs(numeric));
      if (std::abs(got - numeric) > atol + rtol * std::abs(numeric)) {
        report << inputs[j].name << "[" << i << "]: autograd " << got << " vs central difference " << numeric
               << "\n";
      }
    }
    // A check on all-zero gradients would prove nothing.
    if (max_abs_grad < 1e-3) report << inputs[j].name << ": gradient is (nearly) zero everywhere\n";
  }
  return report.str();
}

Tensor leaf(const Tensor& t) { return t.detach().clone().to(torch::kDouble).requires_grad_(true); }

// The module's parameters become the checked leaves (float64).
std::vector<Checked> with_parameters(DomainBatchNorm& bn, const Tensor& x) {
  bn->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.uniform_(-0.5, 0.5);
  }
  return {{"input", x}, {"weight", bn->weight}, {"bias", bn->bias}};
}

TEST(DomainBatchNormGradcheck, BatchNormTrainingFusedPath) {
  torch::manual_seed(21);
  DomainBatchNorm bn(2);
  const Tensor x = leaf(torch::randn({3, 2, 2, 2, 3}) * 2 + 1);
  const auto inputs = with_parameters(bn, x);
  const Tensor g = torch::randn(x.sizes(), torch::kDouble);
  EXPECT_EQ(central_difference_mismatch([&] { return bn(x); }, g, inputs), "");
}

TEST(DomainBatchNormGradcheck, BatchNormTrainingThroughTheReductionHook) {
  torch::manual_seed(22);
  DomainBatchNorm bn(2);
  bn->set_reduction(std::make_shared<LocalBatchStatsReduction>());
  const Tensor x = leaf(torch::randn({3, 2, 2, 2, 3}) * 2 + 1);
  const auto inputs = with_parameters(bn, x);
  const Tensor g = torch::randn(x.sizes(), torch::kDouble);
  EXPECT_EQ(central_difference_mismatch([&] { return bn(x); }, g, inputs), "");
}

TEST(DomainBatchNormGradcheck, MultiDomainTraining) {
  for (const bool domain_affine : {false, true}) {
    torch::manual_seed(23);
    DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(3).domain_affine(domain_affine));
    const Tensor x = leaf(torch::randn({5, 2, 2, 3, 2}) * 3 - 1);
    const Tensor ids = torch::tensor({2, 0, 1, 2, 0}, torch::kLong);
    const auto inputs = with_parameters(bn, x);
    const Tensor g = torch::randn(x.sizes(), torch::kDouble);
    EXPECT_EQ(central_difference_mismatch([&] { return bn(x, ids); }, g, inputs), "")
        << "domain_affine " << domain_affine;
  }
}

// Renorm treats r and d as constants, which is the true derivative only where
// they are clipped (then they do not depend on x); here they are: running
// statistics far from the batch's, momentum 0 keeps them fixed between the
// evaluations. The unclipped case is checked against the formulas in
// domain_batch_norm_test.cpp.
TEST(DomainBatchNormGradcheck, RenormTrainingWithClippedCorrection) {
  torch::manual_seed(24);
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2).renorm(true).r_max(2.0).d_max(1.5)
                         .renorm_warmup_steps(0).momentum(0.0));
  const Tensor x = leaf(torch::randn({4, 2, 2, 3, 2}));
  const Tensor ids = torch::tensor({1, 0, 0, 1}, torch::kLong);
  const auto inputs = with_parameters(bn, x);
  {
    torch::NoGradGuard no_grad;
    bn->running_var.fill_(100.0);  // σ = 10 ≫ σ_B: r clipped to 1/r_max
    bn->running_mean.fill_(-40.0);  // (μ_B − μ)/σ ≈ 4: d clipped to d_max
  }
  const Tensor g = torch::randn(x.sizes(), torch::kDouble);
  EXPECT_EQ(central_difference_mismatch([&] { return bn(x, ids); }, g, inputs), "");
  // The layer really was renormalizing: y = (x̂/r_max + d_max)·γ + β.
  const Tensor y = bn(x, ids).detach();
  const Tensor rows = torch::tensor({1, 2}, torch::kLong);  // samples of domain 0
  const Tensor x0 = x.detach().index_select(0, rows);
  const Tensor mean = x0.mean({0, 2, 3, 4}, true);
  const Tensor var = x0.var({0, 2, 3, 4}, false, true);
  const Tensor expected = ((x0 - mean) / (var + 1e-5).sqrt() / 2.0 + 1.5) * bn->weight.detach().view({1, 2, 1, 1, 1}) +
                          bn->bias.detach().view({1, 2, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(y.index_select(0, rows), expected, 1e-10, 1e-10));
}

TEST(DomainBatchNormGradcheck, EvalWithRunningAndWithTestBatchStatistics) {
  for (const bool test_batch_stats : {false, true}) {
    torch::manual_seed(25);
    DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2).test_batch_stats(test_batch_stats));
    const Tensor x = leaf(torch::randn({3, 2, 2, 2, 2}) + 2);
    const auto inputs = with_parameters(bn, x);
    {
      torch::NoGradGuard no_grad;
      bn->running_mean.uniform_(-1, 1);
      bn->running_var.uniform_(0.5, 2);
    }
    bn->eval();
    const Tensor ids = torch::tensor({1, 0, 1}, torch::kLong);
    const Tensor g = torch::randn(x.sizes(), torch::kDouble);
    EXPECT_EQ(central_difference_mismatch([&] { return bn(x, ids); }, g, inputs), "")
        << "test_batch_stats " << test_batch_stats;
  }
}

}  // namespace
}  // namespace medseg::models
