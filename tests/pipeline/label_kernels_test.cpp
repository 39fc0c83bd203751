// The inference label kernels against ATen's own argmax and comparisons.
#include "pipeline/infer/label_kernels.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace medseg::pipeline {
namespace {

TEST(LabelKernels, ArgmaxMatchesAtenIncludingTies) {
  at::manual_seed(3);
  // Small integers make ties common; at::argmax takes the first maximum.
  const at::Tensor scores = at::randint(0, 4, {4, 5, 6, 7}).to(at::kFloat);
  const std::vector<std::int16_t> values{0, 3, 7, 12};
  const at::Tensor ours = argmax_labels(scores, values);
  const at::Tensor expected = at::tensor(values, at::kShort).index({at::argmax(scores, 0)});
  EXPECT_TRUE(at::equal(ours, expected));
  EXPECT_GT((std::get<0>(scores.max(0)).unsqueeze(0) == scores).sum(0).gt(1).sum().item<std::int64_t>(), 20)
      << "the input should contain ties";
  // Non-contiguous input (a transposed view) gives the same labels.
  const at::Tensor transposed = scores.transpose(2, 3).contiguous().transpose(2, 3);
  EXPECT_TRUE(at::equal(argmax_labels(transposed, values), expected));
}

TEST(LabelKernels, CountsMatchComparisons) {
  at::manual_seed(4);
  const at::Tensor labels = at::randint(-2, 5, {9, 10, 11}).to(at::kShort);
  const std::vector<std::int16_t> values{0, 1, 4, 9, -2};  // 9 absent, 2/3/-1 not asked for
  const std::vector<std::int64_t> counts = count_values(labels, values);
  ASSERT_EQ(counts.size(), values.size());
  for (std::size_t k = 0; k < values.size(); ++k) {
    EXPECT_EQ(counts[k], (labels == values[k]).sum().item<std::int64_t>()) << "value " << values[k];
  }
  EXPECT_EQ(counts[3], 0);
}

}  // namespace
}  // namespace medseg::pipeline
