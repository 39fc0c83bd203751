#pragma once
// Adaptation to a new scanner without labels (AdaBN, Li et al. 2016): the
// batch-normalization statistics of one domain are re-estimated from the
// sliding windows of unlabeled, preprocessed volumes. Used by
// `medseg infer --domain auto` (one volume, a temporary copy of the model)
// and by `medseg adapt` (many volumes, a new named domain in a new bundle).
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/bundle.h"
#include "models/unet3d.h"
#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

struct AdaptationOptions {
  /// Fraction shared by neighbouring windows (as in sliding-window inference).
  double overlap = 0.5;
  /// Windows per forward pass: the statistics are exact over all windows
  /// whatever the batching, but each layer normalizes its input with the
  /// statistics of the current batch while adapting (AdaBN).
  std::int64_t windows_per_batch = 2;
  /// Run the convolutions under bf16 autocast (statistics stay float32).
  bool bf16 = false;
  /// Fraction done (0..1); return false to cancel (throws medseg::Cancelled,
  /// the model is left unchanged).
  ProgressCallback progress;
};

/// Whether `model` has batch-normalization layers with running statistics
/// (norm kind batch or batch_renorm) — the only kind AdaBN applies to.
bool has_batch_statistics(const models::UNet3dOptions& options);

/// AdaBN: replaces the running statistics of `domain` in every
/// DomainBatchNorm of `model` by the exact mean and (unbiased) variance of
/// its input over all sliding windows (patch `patch_size` voxels along i, j,
/// k) of all `preprocessed_images`, each float32 (C, D, H, W) as the
/// Preprocessor returns them. Volumes smaller than the patch are padded with
/// zeros at the end, as for inference. Nothing else changes (no learning).
/// Throws ModelError when the model has no batch-norm layer or `domain` is
/// out of range, ConfigError for no images, medseg::Cancelled on cancel.
void adapt_domain(models::UNet3d& model, std::int64_t domain, const std::vector<at::Tensor>& preprocessed_images,
                  const std::array<std::int64_t, 3>& patch_size, const AdaptationOptions& options = {});

/// A deep copy of `model` (same options, parameters and buffers, same
/// train/eval mode) that can be changed without touching the original.
models::UNet3d copy_model(const models::UNet3d& model);

/// Throws (as add_adapted_domain does) when domain `name` cannot be added to
/// a bundle described by `info`: no batch normalization, an existing or empty
/// name. Lets callers refuse before reading any image.
void check_new_domain(const models::BundleInfo& info, const std::string& name);

/// Adds domain `name` to `bundle` (every DomainBatchNorm grows by one set of
/// statistics, `architecture.norm.num_domains` and `domains` follow, so
/// save_bundle accepts the result) and adapts it by AdaBN on
/// `preprocessed_images`. Returns the new domain's index. Throws ModelError
/// when the bundle's normalization is not a batch kind (instance and group
/// norm compute their statistics per volume: nothing to adapt) or when
/// `name` already exists. On failure the bundle is unchanged.
std::int64_t add_adapted_domain(models::Bundle& bundle, const std::string& name,
                                const std::vector<at::Tensor>& preprocessed_images,
                                const AdaptationOptions& options = {});

/// The name of domain `index` of a bundle: `domains[index]`, or "domain_<index>"
/// when the bundle names fewer domains.
std::string domain_name(const models::BundleInfo& info, std::int64_t index);

}  // namespace medseg::pipeline
