#pragma once
// One place that turns a normalization name from the configuration into a
// layer, so networks (the U-Net) never hard-code their normalization.
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace medseg::models {

/// The normalization layers the factory can build.
enum class NormKind {
  kBatch,        ///< DomainBatchNorm (batch statistics, optionally per domain)
  kInstance,     ///< torch::nn::InstanceNorm3d (per-sample statistics)
  kGroup,        ///< torch::nn::GroupNorm (per-sample statistics over channel groups)
  kBatchRenorm,  ///< DomainBatchNorm with Batch Renormalization
  kNone,         ///< torch::nn::Identity
};

/// Parses "batch", "instance", "group", "batch_renorm" or "none".
/// Throws ConfigError naming the accepted values otherwise.
NormKind parse_norm_kind(std::string_view name);

/// The configuration name of `kind` ("batch", …).
std::string to_string(NormKind kind);

/// What a norm layer is built from. Options that do not apply to a kind are
/// ignored (e.g. num_groups for batch norm, num_domains for group norm).
struct NormOptions {
  /* implicit */ NormOptions(NormKind kind = NormKind::kBatch);  // NOLINT(google-explicit-constructor)

  TORCH_ARG(NormKind, kind);
  /// Group norm: number of channel groups; must divide the channel count.
  TORCH_ARG(int64_t, num_groups) = 8;
  /// Batch kinds: number of domains (scanners) with their own statistics.
  TORCH_ARG(int64_t, num_domains) = 1;
  /// Batch kinds: separate γ/β per domain.
  TORCH_ARG(bool, domain_affine) = false;
  TORCH_ARG(double, eps) = 1e-5;
  /// Batch kinds: PyTorch convention (Keras 0.99 ≙ 0.01); unset = cumulative average.
  TORCH_ARG(c10::optional<double>, momentum) = 0.1;
  /// Learnable per-channel scale and shift (all kinds but none).
  TORCH_ARG(bool, affine) = true;
  /// batch_renorm: clipping limits and warm-up (see DomainBatchNormOptions).
  TORCH_ARG(double, r_max) = 3.0;
  TORCH_ARG(double, d_max) = 5.0;
  TORCH_ARG(int64_t, renorm_warmup_steps) = 100;
  /// Batch kinds in a network: the first this many encoder levels use
  /// instance norm instead (IBN-Net, Pan et al. 2018: per-window statistics
  /// where appearance lives, batch statistics deeper, where content does).
  /// 0 = batch norm everywhere. Ignored by make_norm (one layer).
  TORCH_ARG(int64_t, instance_levels) = 0;
  /// With instance_levels: the share of each such layer's channels that
  /// instance norm takes (rounded, at least one); the batch kind keeps the
  /// others (IBN-a, Pan et al. 2018). 1 = instance norm alone. Ignored by
  /// make_norm, which takes the channel count itself.
  TORCH_ARG(double, instance_fraction) = 1.0;
};

/// Builds a norm layer for `num_features` channels of (N, C, D, H, W) input.
/// The returned module is a DomainBatchNorm, torch::nn::InstanceNorm3d
/// (track_running_stats = false, as nnU-Net uses it), torch::nn::GroupNorm or
/// torch::nn::Identity. Call it through apply_norm() so that domain ids reach
/// the layers that use them. Throws ConfigError for invalid options.
/// `instance_channels` > 0 (batch kinds only): that many leading channels use
/// instance norm instead — all of them: an InstanceNorm3d with the options'
/// eps and affine; fewer: an InstanceBatchNorm (IBN-a).
torch::nn::AnyModule make_norm(const NormOptions& options, int64_t num_features, int64_t instance_channels = 0);

/// How many of `num_features` channels an IBN level gives instance norm:
/// round(instance_fraction · num_features), at least 1.
int64_t instance_channels(const NormOptions& options, int64_t num_features);

/// Applies a layer built by make_norm: DomainBatchNorm gets `domain_ids`
/// (int64 (N), or undefined = domain 0); the other kinds ignore them.
torch::Tensor apply_norm(torch::nn::AnyModule& norm, const torch::Tensor& input,
                         const torch::Tensor& domain_ids = {});

}  // namespace medseg::models
