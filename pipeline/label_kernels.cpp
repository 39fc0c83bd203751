#include "pipeline/label_kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <mutex>

namespace medseg::pipeline {

at::Tensor argmax_labels(const at::Tensor& scores_in, const std::vector<std::int16_t>& values) {
  TORCH_CHECK(scores_in.dim() == 4 && scores_in.scalar_type() == at::kFloat, "scores must be float32 (K, D, H, W)");
  TORCH_CHECK(scores_in.size(0) == static_cast<std::int64_t>(values.size()) && !values.empty(),
              "one label value per class expected");
  const at::Tensor scores = scores_in.contiguous();
  const std::int64_t classes = scores.size(0);
  const std::int64_t n = scores.size(1) * scores.size(2) * scores.size(3);
  at::Tensor out = at::empty({scores.size(1), scores.size(2), scores.size(3)}, at::kShort);
  const float* s = scores.data_ptr<float>();
  std::int16_t* o = out.data_ptr<std::int16_t>();
  at::parallel_for(0, n, 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      std::int64_t best = 0;
      float best_score = s[i];
      for (std::int64_t k = 1; k < classes; ++k) {
        const float v = s[k * n + i];
        if (v > best_score) {
          best_score = v;
          best = k;
        }
      }
      o[i] = values[static_cast<std::size_t>(best)];
    }
  });
  return out;
}

std::map<std::int16_t, std::int64_t> value_histogram(const at::Tensor& labels_in) {
  TORCH_CHECK(labels_in.scalar_type() == at::kShort, "labels must be int16");
  const at::Tensor labels = labels_in.contiguous();
  std::vector<std::int64_t> counts(65536, 0);
  std::mutex merge;
  const std::int16_t* src = labels.data_ptr<std::int16_t>();
  // A large grain: every chunk zeroes and merges a 512 KiB table.
  at::parallel_for(0, labels.numel(), 1 << 22, [&](std::int64_t begin, std::int64_t end) {
    std::vector<std::int64_t> local(65536, 0);
    for (std::int64_t i = begin; i < end; ++i) ++local[static_cast<std::uint16_t>(src[i])];
    const std::lock_guard<std::mutex> lock(merge);
    for (std::size_t k = 0; k < local.size(); ++k) counts[k] += local[k];
  });
  std::map<std::int16_t, std::int64_t> out;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] > 0) out[static_cast<std::int16_t>(static_cast<std::uint16_t>(k))] = counts[k];
  }
  return out;
}

std::vector<std::int64_t> count_values(const at::Tensor& labels, const std::vector<std::int16_t>& values) {
  const auto histogram = value_histogram(labels);
  std::vector<std::int64_t> counts;
  for (const std::int16_t value : values) {
    const auto it = histogram.find(value);
    counts.push_back(it == histogram.end() ? 0 : it->second);
  }
  return counts;
}

}  // namespace medseg::pipeline
