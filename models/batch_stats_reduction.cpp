#include "models/batch_stats_reduction.h"

#include <sstream>

#include "core/error.h"

namespace medseg::models {

void LocalBatchStatsReduction::reduce(BatchStats& /*stats*/) {}

void LocalBatchStatsReduction::reduce(BatchGradStats& /*grads*/) {}

namespace {

void check_packed(const torch::Tensor& before, const torch::Tensor& after) {
  if (!after.defined() || after.sizes() != before.sizes() ||
      after.scalar_type() != before.scalar_type()) {
    std::ostringstream message;
    message << "batch statistics all-reduce: expected a float64 tensor of shape "
            << before.sizes() << " back, got ";
    if (after.defined()) {
      message << c10::toString(after.scalar_type()) << " of shape " << after.sizes();
    } else {
      message << "an undefined tensor";
    }
    throw ModelError(message.str());
  }
}

}  // namespace

void SumBatchStatsReduction::reduce(BatchStats& stats) {
  const int64_t channels = stats.sum.size(1);
  torch::Tensor packed =
      torch::cat({stats.sum, stats.sum_sq, stats.count.unsqueeze(1)}, 1).contiguous();
  const torch::Tensor before = packed;
  all_reduce_sum(packed);
  check_packed(before, packed);
  stats.sum = packed.narrow(1, 0, channels).contiguous();
  stats.sum_sq = packed.narrow(1, channels, channels).contiguous();
  stats.count = packed.select(1, 2 * channels).contiguous();
}

void SumBatchStatsReduction::reduce(BatchGradStats& grads) {
  const int64_t channels = grads.sum_dy.size(1);
  torch::Tensor packed = torch::cat({grads.sum_dy, grads.sum_dy_xhat}, 1).contiguous();
  const torch::Tensor before = packed;
  all_reduce_sum(packed);
  check_packed(before, packed);
  grads.sum_dy = packed.narrow(1, 0, channels).contiguous();
  grads.sum_dy_xhat = packed.narrow(1, channels, channels).contiguous();
}

}  // namespace medseg::models
