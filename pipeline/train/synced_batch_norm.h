#pragma once
// Synchronized batch normalization on the CPU, which PyTorch's SyncBatchNorm
// refuses: every DomainBatchNorm of a model hands its per-domain partial sums
// (forward: Σx, Σx², counts; backward: Σdy, Σdy·x̂) to a reduction that
// all-reduces them over the process group, so every rank normalizes with the
// statistics of the global batch.
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "models/batch_stats_reduction.h"
#include "pipeline/train/process_group.h"

namespace medseg::pipeline {

/// Sums the packed statistics over all ranks of `group` (which must outlive it).
class ProcessGroupBatchStatsReduction final : public models::SumBatchStatsReduction {
 public:
  explicit ProcessGroupBatchStatsReduction(ProcessGroup& group) : group_(group) {}

 protected:
  void all_reduce_sum(torch::Tensor& packed) override;

 private:
  ProcessGroup& group_;
};

/// Installs `reduction` in every DomainBatchNorm of `model` (nullptr removes
/// it: statistics stay local, e.g. while rank 0 alone validates). Returns the
/// number of layers.
std::int64_t set_batch_stats_reduction(torch::nn::Module& model,
                                       const std::shared_ptr<models::BatchStatsReduction>& reduction);

}  // namespace medseg::pipeline
