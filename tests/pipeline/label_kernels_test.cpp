// The label kernels against ATen's own argmax and comparisons.
#include "pipeline/label_kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
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

TEST(LabelKernels, HistogramMatchesAtenUnique) {
  at::manual_seed(5);
  // Two threads and more voxels than one chunk of the kernel (4 Mi), so
  // chunks are merged; the extreme int16 values and negatives land in their
  // own slots.
  at::set_num_threads(2);
  at::Tensor labels = at::randint(-3, 6, {160, 160, 200}).to(at::kShort);
  labels[0][0][0] = 32767;
  labels[1][2][3] = -32768;
  labels[159][159][199] = 32767;
  const auto histogram = value_histogram(labels);
  const auto [values, inverse, counts] = at::_unique2(labels, /*sorted=*/true, false, /*return_counts=*/true);
  ASSERT_EQ(histogram.size(), static_cast<std::size_t>(values.numel()));
  std::size_t i = 0;
  for (const auto& [value, count] : histogram) {
    EXPECT_EQ(value, values[static_cast<std::int64_t>(i)].item<std::int16_t>());
    EXPECT_EQ(count, counts[static_cast<std::int64_t>(i)].item<std::int64_t>()) << "value " << value;
    ++i;
  }
  EXPECT_EQ(histogram.at(32767), 2);
  EXPECT_EQ(histogram.at(-32768), 1);
  EXPECT_TRUE(value_histogram(at::zeros({0}, at::kShort)).empty());
}

}  // namespace
}  // namespace medseg::pipeline
