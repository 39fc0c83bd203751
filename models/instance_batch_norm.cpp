#include "models/instance_batch_norm.h"

#include <torch/torch.h>

#include "models/check.h"

namespace medseg::models {

InstanceBatchNormImpl::InstanceBatchNormImpl(const torch::nn::InstanceNorm3dOptions& instance,
                                             const DomainBatchNormOptions& batch)
    : instance_options_(instance), batch_options_(batch) {
  reset();
}

void InstanceBatchNormImpl::reset() {
  instance = register_module("instance", torch::nn::InstanceNorm3d(instance_options_));
  batch = register_module("batch", DomainBatchNorm(batch_options_));
}

torch::Tensor InstanceBatchNormImpl::forward(const torch::Tensor& input, const torch::Tensor& domain_ids) {
  const int64_t k = instance_options_.num_features();
  MEDSEG_CHECK(input.dim() == 5 && input.size(1) == k + batch_options_.num_features(), "InstanceBatchNorm expects (N, ",
               k + batch_options_.num_features(), ", D, H, W) input, got ", input.sizes());
  const torch::Tensor a = instance->forward(input.narrow(1, 0, k));
  const torch::Tensor b = batch->forward(input.narrow(1, k, input.size(1) - k), domain_ids);
  // Under bf16 autocast the two halves may come back in different types
  // (DomainBatchNorm computes in float32): join them in the wider one.
  const auto type = at::promote_types(a.scalar_type(), b.scalar_type());
  return torch::cat({a.to(type), b.to(type)}, 1);
}

}  // namespace medseg::models
