#pragma once
// The one place where the per-channel statistics of a batch-normalization
// layer can leave the process. DomainBatchNorm computes its statistics as
// additive partial sums and hands them to a BatchStatsReduction before using
// them; an implementation that all-reduces them over Gloo turns every layer
// into synchronized batch normalization without touching the layer.
#include <torch/types.h>

namespace medseg::models {

/// Per-channel partial statistics of one batch, per domain, as computed on
/// this process in the forward pass. K = number of domains, C = channels.
/// All tensors are float64, contiguous, on the CPU.
struct BatchStats {
  torch::Tensor sum;     ///< (K, C): Σ x over the values of domain k in channel c.
  torch::Tensor sum_sq;  ///< (K, C): Σ x².
  torch::Tensor count;   ///< (K): values per channel of domain k (samples · D · H · W).
};

/// Per-channel partial sums of the backward pass, per domain: what the input
/// gradient of batch normalization needs beyond the local values.
/// All tensors are float64, contiguous, on the CPU.
struct BatchGradStats {
  torch::Tensor sum_dy;       ///< (K, C): Σ ∂L/∂y over the values of domain k in channel c.
  torch::Tensor sum_dy_xhat;  ///< (K, C): Σ ∂L/∂y · x̂, x̂ the normalized input.
};

/// Combines the partial statistics of all participants of a training step
/// (processes of a data-parallel job). The layer calls `reduce(BatchStats&)`
/// once per forward that uses batch statistics, and `reduce(BatchGradStats&)`
/// once per backward through such a forward. Implementations replace every
/// tensor by its elementwise sum over all participants and keep shapes and
/// dtypes. In a multi-process job every participant must run the same number
/// of forwards and backwards through the layer (as with any all-reduce).
class BatchStatsReduction {
 public:
  virtual ~BatchStatsReduction() = default;

  /// Reduces the forward statistics in place.
  virtual void reduce(BatchStats& stats) = 0;

  /// Reduces the backward sums in place.
  virtual void reduce(BatchGradStats& grads) = 0;
};

/// Keeps the statistics local (single process). Semantically the same as
/// installing no reduction at all, but it routes the layer through its general
/// path (statistics computed by medseg, not by ATen's fused kernel), which
/// tests and benchmarks use to measure that path.
class LocalBatchStatsReduction final : public BatchStatsReduction {
 public:
  void reduce(BatchStats& stats) override;
  void reduce(BatchGradStats& grads) override;
};

/// Base for reductions that sum across participants with one collective call
/// (e.g. a Gloo all-reduce SUM): each call's tensors are packed into one
/// contiguous float64 tensor, `all_reduce_sum` is called once, and the result
/// is unpacked. Layout: forward (K, 2C + 1) = [sum | sum_sq | count];
/// backward (K, 2C) = [sum_dy | sum_dy_xhat].
class SumBatchStatsReduction : public BatchStatsReduction {
 public:
  void reduce(BatchStats& stats) final;
  void reduce(BatchGradStats& grads) final;

 protected:
  /// Replaces `packed` (contiguous float64, CPU) in place by its elementwise
  /// sum over all participants.
  virtual void all_reduce_sum(torch::Tensor& packed) = 0;
};

}  // namespace medseg::models
