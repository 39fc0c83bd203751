// The row kernels against the same sums computed by ATen in float64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/batch_norm_kernels.h"
#include "core/error.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models::kernels {
namespace {

using medseg::models::testing::all_close;
using medseg::models::testing::throws_with;
using torch::Tensor;

TEST(BatchNormKernels, RowMomentsMatchFloat64ReferenceEvenWithALargeOffset) {
  torch::manual_seed(51);
  // Row lengths around the 16-lane blocks, more rows than threads, and a
  // CT-like offset of 1e4 with a spread of 0.5 (float32 keeps ~3 digits of it).
  for (const int64_t length : {1, 7, 16, 37, 1000}) {
    for (const auto type : {torch::kFloat, torch::kDouble}) {
      const Tensor x = (torch::randn({6, length}, torch::kDouble) * 0.5 + 1e4).to(type);
      const auto [mean, var] = row_moments(x, 6);
      const Tensor xd = x.to(torch::kDouble);  // exact
      EXPECT_TRUE(all_close(mean, xd.mean(1), 1e-15, 0)) << "length " << length << " " << type;
      EXPECT_TRUE(all_close(var, xd.var(1, /*unbiased=*/false), 1e-9, 1e-12)) << "length " << length << " " << type;
    }
  }
  // (1, R, S) views of (N, C, D, H, W) batches work row by row.
  const Tensor x = torch::randn({2, 3, 4, 5, 6});
  const auto [mean, var] = row_moments(x.view({1, 6, -1}), 6);
  EXPECT_TRUE(all_close(mean.view({2, 3}), x.to(torch::kDouble).mean({2, 3, 4}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(var.view({2, 3}), x.to(torch::kDouble).var({2, 3, 4}, false), 1e-12, 1e-12));
}

TEST(BatchNormKernels, RowGradSumsMatchFloat64Reference) {
  torch::manual_seed(52);
  for (const auto type : {torch::kFloat, torch::kDouble}) {
    const Tensor x = (torch::randn({5, 53}, torch::kDouble) * 3 + 100).to(type);
    const Tensor dy = torch::randn({5, 53}, torch::kDouble).to(type);
    const Tensor mean = torch::randn({5}, torch::kDouble) + 100;
    const auto [sum_dy, sum_dy_xc] = row_grad_sums(dy, x, mean, 5);
    const Tensor xd = x.to(torch::kDouble);
    const Tensor gd = dy.to(torch::kDouble);
    EXPECT_TRUE(all_close(sum_dy, gd.sum(1), 1e-13, 1e-13)) << type;
    EXPECT_TRUE(all_close(sum_dy_xc, (gd * (xd - mean.unsqueeze(1))).sum(1), 1e-12, 1e-12)) << type;
  }
}

TEST(BatchNormKernels, RowAffineCombinationMatchesReference) {
  torch::manual_seed(53);
  for (const auto type : {torch::kFloat, torch::kDouble}) {
    const Tensor x = torch::randn({4, 3, 2, 5}, type);
    const Tensor dy = torch::randn({4, 3, 2, 5}, type);
    const Tensor a = torch::randn({12}, torch::kDouble);
    const Tensor b = torch::randn({12}, torch::kDouble);
    const Tensor c = torch::randn({12}, torch::kDouble);
    const Tensor mean = torch::randn({12}, torch::kDouble);
    const Tensor out = row_affine_combination(dy, x, mean, a, b, c, 12);
    EXPECT_EQ(out.scalar_type(), type);
    EXPECT_EQ(out.sizes(), x.sizes());
    const auto row = [](const Tensor& t) { return t.view({4, 3, 1, 1}); };
    const Tensor expected = row(a) * dy.to(torch::kDouble) + row(b) * (x.to(torch::kDouble) - row(mean)) + row(c);
    const double tol = type == torch::kFloat ? 1e-5 : 1e-13;
    EXPECT_TRUE(all_close(out, expected, tol, tol)) << type;
  }
}

TEST(BatchNormKernels, RejectOperandsTheyCannotReadRowByRow) {
  const Tensor x = torch::randn({4, 6});
  EXPECT_TRUE(throws_with<ModelError>([&] { row_moments(x.t(), 6); }, {"contiguous", "not contiguous"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { row_moments(x, 5); }, {"multiple of 5"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { row_moments(x.to(torch::kInt), 4); }, {"Int"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { row_grad_sums(x.to(torch::kDouble), x, torch::zeros({4}), 4); },
                                      {"dy must be", "Double"}));
  EXPECT_TRUE(throws_with<ModelError>([&] { row_grad_sums(x, x, torch::zeros({3}), 4); }, {"expected 4 per-row"}));
}

}  // namespace
}  // namespace medseg::models::kernels
