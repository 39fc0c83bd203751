#pragma once
// IBN-a's layer (Pan et al. 2018, "Two at once"): the first channels of a
// feature map normalized per sample (instance norm), the others with batch
// statistics (DomainBatchNorm). Instance statistics remove each window's
// appearance; the batch half keeps the absolute intensity information that
// instance norm throws away, and its statistics can still be adapted to a
// new scanner. Built by make_norm for IBN levels with
// norm.instance_fraction < 1 (docs/normalization.md §4).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "models/domain_batch_norm.h"

namespace medseg::models {

class InstanceBatchNormImpl : public torch::nn::Cloneable<InstanceBatchNormImpl> {
 public:
  /// `instance` options cover the first `instance_channels` channels, `batch`
  /// options (whose num_features must be the rest) the others.
  InstanceBatchNormImpl(const torch::nn::InstanceNorm3dOptions& instance, const DomainBatchNormOptions& batch);
  void reset() override;

  /// (N, C, D, H, W) -> same shape; `domain_ids` reach the batch half.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& domain_ids = {});

  int64_t instance_channels() const { return instance_options_.num_features(); }

  torch::nn::InstanceNorm3d instance{nullptr};
  DomainBatchNorm batch{nullptr};

 private:
  torch::nn::InstanceNorm3dOptions instance_options_;
  DomainBatchNormOptions batch_options_;
};
TORCH_MODULE(InstanceBatchNorm);

}  // namespace medseg::models
