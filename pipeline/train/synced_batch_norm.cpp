#include "pipeline/train/synced_batch_norm.h"

#include "models/domain_batch_norm.h"

namespace medseg::pipeline {

void ProcessGroupBatchStatsReduction::all_reduce_sum(torch::Tensor& packed) {
  group_.all_reduce_sum(packed, "all-reduce of the batch-norm statistics");
}

std::int64_t set_batch_stats_reduction(torch::nn::Module& model,
                                       const std::shared_ptr<models::BatchStatsReduction>& reduction) {
  std::int64_t layers = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* bn = module->as<models::DomainBatchNorm>()) {
      bn->set_reduction(reduction);
      ++layers;
    }
  }
  return layers;
}

}  // namespace medseg::pipeline
