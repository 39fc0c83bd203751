#pragma once
// Adaptation to a new scanner without labels, within the batch-normalization
// family: the statistics of one domain are re-estimated from unlabeled,
// preprocessed volumes, either from every sliding window (AdaBN, Li et al.
// 2016) or from windows drawn as training drew its patches and mixed with
// the source statistics (Schneider et al. 2020), optionally followed by a
// few steps of entropy minimisation on the scale/shift only (TENT, Wang et
// al. 2021). Used by `medseg infer --domain auto` (one volume, a temporary
// copy of the model) and by `medseg adapt` (many volumes, a new named domain
// in a new bundle). docs/normalization.md explains the choices.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/bundle.h"
#include "models/domain_batch_norm.h"
#include "models/unet3d.h"
#include "pipeline/infer/adaptation_method.h"
#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

struct AdaptationOptions {
  AdaptationMethod method = AdaptationMethod::kPrior;
  /// kAdaBN: fraction shared by neighbouring windows (as in inference).
  double overlap = 0.5;
  /// Windows per forward pass. While adapting, each layer normalizes its
  /// input with the statistics of the current batch, as training did.
  std::int64_t windows_per_batch = 2;
  /// kPrior/kTent: windows drawn per image, a share `body_fraction` of them
  /// centred on a random body voxel (body_mask.h) and the rest anywhere,
  /// as training centres a third of its patches on foreground.
  std::int64_t windows_per_image = 16;
  double body_fraction = 0.33;
  /// kPrior/kTent: strength N of the source statistics, in windows; the
  /// prior weight is N / (N + n) for n windows drawn in all.
  double prior_strength = 16.0;
  /// Adapt only the first `layers` batch-norm layers in forward order (the
  /// encoder from full resolution down); deeper layers keep the domain's
  /// statistics (and, for kTent, their scale/shift). 0 = every layer.
  /// The idea: intensity shifts act on the first layers' inputs. Measured
  /// on the bundled models it does not pay (docs/normalization.md).
  std::int64_t layers = 0;
  /// kTent: optimisation steps (one batch each) and Adam learning rate.
  std::int64_t tent_steps = 8;
  double tent_learning_rate = 1e-3;
  /// Seed of the window draws: same seed, same windows, same statistics.
  std::uint64_t seed = 0;
  /// Run the convolutions under bf16 autocast (statistics stay float32;
  /// TENT's steps always run in float32).
  bool bf16 = false;
  /// Fraction done (0..1); return false to cancel (throws medseg::Cancelled,
  /// the model is left unchanged).
  ProgressCallback progress;
};

/// A window of a volume padded to at least the patch: its first voxel.
struct AdaptationWindow {
  std::int64_t i = 0, j = 0, k = 0;
};

/// `image` (C, D, H, W) padded with zeros at the end of each axis to at
/// least `patch` (i, j, k), as inference pads a volume smaller than a window.
at::Tensor pad_to_patch(const at::Tensor& image, const std::array<std::int64_t, 3>& patch);

/// The `patch`-sized window at `w` of a padded (C, D, H, W) tensor.
at::Tensor crop_window(const at::Tensor& image, const AdaptationWindow& w, const std::array<std::int64_t, 3>& patch);

/// The windows the statistics come from: every sliding window (kAdaBN) or
/// `windows_per_image` drawn from `seed` (kPrior, kTent). `image` is the
/// padded float (C, D, H, W) image; `body` its bool (D, H, W) body mask.
std::vector<AdaptationWindow> adaptation_windows(const at::Tensor& image, const at::Tensor& body,
                                                 const std::array<std::int64_t, 3>& patch_size,
                                                 const AdaptationOptions& options, std::uint64_t seed);

/// The estimate each method asks of the batch-norm layers for `windows` in all.
models::AdaptationEstimate adaptation_estimate(const AdaptationOptions& options, std::int64_t windows);

/// The number of batch-norm layers adaptation can change (the most
/// AdaptationOptions::layers may name).
std::int64_t batch_norm_layer_count(const models::UNet3d& model);

/// Whether `model` has batch-normalization layers with running statistics
/// (norm kind batch or batch_renorm) — the only kind AdaBN applies to.
bool has_batch_statistics(const models::UNet3dOptions& options);

/// Replaces the running statistics of `domain` in every DomainBatchNorm of
/// `model` (or the first `options.layers`) by their estimate over the windows (patch `patch_size` voxels
/// along i, j, k; adaptation_windows()) of all `preprocessed_images`, each
/// float32 (C, D, H, W) as the Preprocessor returns them. Volumes smaller
/// than the patch are padded with zeros at the end, as for inference. kTent
/// then also changes the batch-norm scale/shift (weight, bias) of `model`;
/// nothing else changes. Throws ModelError when the model has no batch-norm
/// layer or `domain` is out of range, ConfigError for no images, bad options
/// or more `layers` than the model has, medseg::Cancelled on cancel.
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
/// `name` already exists, ConfigError for kTent (it changes the scale/shift
/// the existing domains share). On failure the bundle is unchanged.
std::int64_t add_adapted_domain(models::Bundle& bundle, const std::string& name,
                                const std::vector<at::Tensor>& preprocessed_images,
                                const AdaptationOptions& options = {});

/// The name of domain `index` of a bundle: `domains[index]`, or "domain_<index>"
/// when the bundle names fewer domains.
std::string domain_name(const models::BundleInfo& info, std::int64_t index);

}  // namespace medseg::pipeline
