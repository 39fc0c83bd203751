#pragma once
// Batch normalization that knows which scanner ("domain") each sample came
// from. With one domain it is PyTorch's BatchNorm3d, number for number and
// name for name; with K domains each domain keeps its own statistics (and
// optionally its own scale and shift). It also offers Batch Renormalization,
// AdaBN-style re-estimation of one domain's statistics from unlabeled data,
// growing a new domain, test-batch statistics at eval time, and a reduction
// hook for synchronized statistics across processes. See
// docs/normalization.md for the math and the advice.
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/modules/container/any_module_holder.h>
#include <torch/nn/modules/container/any_value.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <ostream>

#include "models/batch_stats_reduction.h"

namespace medseg::models {

/// Options of DomainBatchNorm. The first six mirror
/// torch::nn::BatchNormOptions and default to the same values.
struct DomainBatchNormOptions {
  /* implicit */ DomainBatchNormOptions(int64_t num_features);  // NOLINT(google-explicit-constructor)

  /// Number of channels C of the (N, C, D, H, W) input.
  TORCH_ARG(int64_t, num_features);

  /// Number of domains K (scanners, sites, protocols). Changing it after
  /// construction has no effect; use DomainBatchNormImpl::add_domain().
  TORCH_ARG(int64_t, num_domains) = 1;

  /// Added to the variance inside the square root.
  TORCH_ARG(double, eps) = 1e-5;

  /// PyTorch convention: running = (1 − momentum) · running + momentum · batch.
  /// Unset = cumulative average with factor 1 / num_batches_tracked.
  /// (Keras' momentum 0.99 is PyTorch's 0.01.)
  TORCH_ARG(c10::optional<double>, momentum) = 0.1;

  /// Learn a per-channel scale γ (`weight`) and shift β (`bias`).
  TORCH_ARG(bool, affine) = true;

  /// Keep running statistics for eval mode. Without them eval mode uses the
  /// batch statistics, as in PyTorch.
  TORCH_ARG(bool, track_running_stats) = true;

  /// One γ/β per domain (domain-specific BN, Chang et al. 2019): `weight` and
  /// `bias` become (K, C) when K > 1. Otherwise γ/β are shared.
  TORCH_ARG(bool, domain_affine) = false;

  /// Batch Renormalization (Ioffe 2017) in training mode.
  TORCH_ARG(bool, renorm) = false;

  /// Renorm: r = σ_B / σ is clipped to [1 / r_max, r_max]; r_max >= 1.
  TORCH_ARG(double, r_max) = 3.0;

  /// Renorm: d = (μ_B − μ) / σ is clipped to [−d_max, d_max]; d_max >= 0.
  TORCH_ARG(double, d_max) = 5.0;

  /// Renorm: over a domain's first `renorm_warmup_steps` training batches the
  /// clipping limits grow linearly from (1, 0) — plain batch norm — to
  /// (r_max, d_max), while the running statistics settle. 0 = full limits
  /// from the first batch.
  TORCH_ARG(int64_t, renorm_warmup_steps) = 100;

  /// Eval mode normalizes with the statistics of the input itself (per
  /// domain, "test-batch statistics") instead of the running statistics.
  /// Running statistics are not updated.
  TORCH_ARG(bool, test_batch_stats) = false;
};

/// How end_adaptation() turns the batches it saw into a domain's statistics
/// (docs/normalization.md, "Why plain AdaBN hurts", has the measurements).
struct AdaptationEstimate {
  enum class Kind {
    /// The exact mean and unbiased variance of every value seen: the spread
    /// between batches counts as variance (AdaBN as published).
    kPooled,
    /// The average of the per-batch means and of the per-batch unbiased
    /// variances: what a training run's running statistics estimate, since
    /// training normalizes each batch by its own statistics.
    kBatchAverage,
  };
  Kind kind = Kind::kPooled;
  /// Weight w of the statistics the domain had before (the prior):
  /// running = w · before + (1 − w) · estimate, for mean and variance alike
  /// (Schneider et al. 2020 use w = N / (N + n)). 0 = replace them.
  double prior_weight = 0.0;
};

/// Batch normalization with per-domain statistics for (N, C, D, H, W) input.
///
/// Parameters and buffers carry PyTorch's names. With one domain their shapes
/// are PyTorch's too — `weight`, `bias`, `running_mean`, `running_var`: (C);
/// `num_batches_tracked`: scalar int64 — so state dicts move between this
/// module and torch::nn::BatchNorm3d unchanged. With K > 1 domains the
/// running buffers are (K, C), `num_batches_tracked` is (K) (batches in which
/// the domain occurred), and `weight`/`bias` are (K, C) if `domain_affine`.
class DomainBatchNormImpl : public torch::nn::Cloneable<DomainBatchNormImpl> {
 public:
  explicit DomainBatchNormImpl(int64_t num_features)
      : DomainBatchNormImpl(DomainBatchNormOptions(num_features)) {}
  explicit DomainBatchNormImpl(const DomainBatchNormOptions& options_);

  void reset() override;

  /// Running statistics back to mean 0, variance 1, no batches tracked.
  void reset_running_stats();

  /// reset_running_stats() plus γ = 1, β = 0.
  void reset_parameters();

  /// `input`: (N, C, D, H, W), float32/float64, or bfloat16/float16 (e.g.
  /// from a convolution under CPU autocast; the output then has the input's
  /// dtype, statistics are computed in float32 and buffers stay float32).
  /// `domain_ids`: int64 tensor of N domain indices in 0..K−1, or undefined
  /// meaning "all samples from domain 0".
  /// Training: each sample is normalized with its domain's batch statistics
  /// (mean, biased variance); present domains update their running statistics
  /// (unbiased variance), absent domains are untouched. Eval: each sample is
  /// normalized with its domain's running statistics (or its batch
  /// statistics, see `test_batch_stats` and `track_running_stats`).
  /// Throws ModelError for a wrong shape, a bad domain id, or a domain with
  /// only one value per channel where batch statistics are needed.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& domain_ids = {});

  /// Installs (or, with nullptr, removes) the reduction through which the
  /// per-channel sums, squared sums and counts of every batch pass before use
  /// (e.g. an all-reduce across processes). Without one, single-domain
  /// batches use ATen's fused batch-norm kernel and statistics stay local.
  /// clone() shares the installed reduction.
  void set_reduction(std::shared_ptr<BatchStatsReduction> reduction);
  const std::shared_ptr<BatchStatsReduction>& reduction() const { return reduction_; }

  /// AdaBN: starts re-estimating the running statistics of `domain` from the
  /// batches passed to forward() until end_adaptation(), in train or eval mode.
  /// While adapting, every sample is normalized with its domain's batch
  /// statistics, nothing is learned and no running statistics change.
  void begin_adaptation(int64_t domain, const AdaptationEstimate& estimate = {});

  /// Replaces the adapted domain's running_mean / running_var by the estimate
  /// chosen at begin_adaptation() (default: the exact mean and unbiased
  /// variance of all values it saw), mixed with the previous statistics by
  /// the prior weight, and its num_batches_tracked by the number of batches
  /// that contained it. Throws ModelError if it saw fewer than two values per
  /// channel (kBatchAverage: in some batch).
  void end_adaptation();

  /// Stops adapting without changing anything.
  void cancel_adaptation();

  /// Whether begin_adaptation() is in effect.
  bool is_adapting() const { return adapting_domain_ >= 0; }

  /// Grows K by one and returns the new domain's index. Its running
  /// statistics are the pooled statistics of the existing domains (mixture
  /// weighted by num_batches_tracked, or equal weights if none tracked yet);
  /// with domain_affine its γ/β are the same weighted means. Existing
  /// parameters keep their identity but may change shape (an optimizer that
  /// holds state for them must be rebuilt).
  int64_t add_domain();

  /// Number of domains K.
  int64_t num_domains() const { return options.num_domains(); }

  void pretty_print(std::ostream& stream) const override;

  /// The options with which this module was constructed (num_domains follows
  /// add_domain()).
  DomainBatchNormOptions options;

  /// γ: (C) or, with domain_affine and K > 1, (K, C). Undefined if !affine.
  torch::Tensor weight;
  /// β: same shape as weight.
  torch::Tensor bias;
  /// (C) for K = 1, else (K, C). Undefined if !track_running_stats.
  torch::Tensor running_mean;
  /// Unbiased running variance; same shape as running_mean.
  torch::Tensor running_var;
  /// int64, scalar for K = 1, else (K).
  torch::Tensor num_batches_tracked;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})

 private:
  torch::Tensor forward_native(const torch::Tensor& input, int64_t domain, bool batch_stats,
                               bool update_running);
  torch::Tensor forward_running_stats(const torch::Tensor& input, const torch::Tensor& ids);
  torch::Tensor forward_batch_stats(const torch::Tensor& input, const torch::Tensor& ids,
                                    bool update_running);

  std::shared_ptr<BatchStatsReduction> reduction_;
  int64_t adapting_domain_ = -1;
  // Exact running moments of the adapted domain (float64, (C)), combined
  // batch by batch with Chan et al.'s parallel formula.
  double adapt_count_ = 0.0;
  int64_t adapt_batches_ = 0;
  torch::Tensor adapt_mean_;
  torch::Tensor adapt_m2_;
  // kBatchAverage: sums over batches of the batch mean and unbiased variance.
  AdaptationEstimate adapt_estimate_;
  torch::Tensor adapt_batch_mean_sum_;
  torch::Tensor adapt_batch_var_sum_;
  double adapt_min_batch_count_ = 0.0;
};

TORCH_MODULE(DomainBatchNorm);

/// Every DomainBatchNorm in `model` (including `model` itself), in
/// registration order (for UNet3d: forward order).
std::vector<DomainBatchNormImpl*> domain_batch_norms(torch::nn::Module& model);

/// Applies begin_adaptation(domain) to every DomainBatchNorm in `model`
/// (including `model` itself). Returns the number of layers affected.
int64_t begin_adaptation(torch::nn::Module& model, int64_t domain, const AdaptationEstimate& estimate = {});

/// Applies end_adaptation() to every adapting DomainBatchNorm in `model`.
/// Returns the number of layers affected.
int64_t end_adaptation(torch::nn::Module& model);

/// Applies add_domain() to every DomainBatchNorm in `model`; returns the new
/// domain's index. Throws ModelError if the layers disagree on K or if there
/// is none.
int64_t add_domain(torch::nn::Module& model);

}  // namespace medseg::models
