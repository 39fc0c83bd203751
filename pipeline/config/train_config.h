#pragma once
// The user's training configuration (what they asked for), parsed and
// validated in one place. Kept apart from the fingerprint (what was
// measured) and the plan (what was decided), as nnU-Net does.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/architecture.h"
#include "models/precision.h"
#include "pipeline/infer/adaptation_method.h"
#include "pipeline/preprocess/normalize.h"

namespace medseg::pipeline {

enum class Optimizer {
  kSgd,    ///< "sgd": SGD with Nesterov momentum (nnU-Net's)
  kAdamW,  ///< "adamw"
};
Optimizer parse_optimizer(std::string_view name);
std::string to_string(Optimizer optimizer);

enum class LrSchedule {
  kPoly,      ///< "poly": lr0 * (1 - epoch / epochs)^0.9 (nnU-Net's)
  kConstant,  ///< "constant"
};
LrSchedule parse_lr_schedule(std::string_view name);
std::string to_string(LrSchedule schedule);

/// Phantoms from `medseg synth`, drawn from simulated scanners (each scanner
/// profile is a domain).
struct SyntheticDatasetConfig {
  std::int64_t count = 0;  ///< cases per profile; 0 = no synthetic dataset
  std::int64_t size = 48;  ///< voxels per axis
  double spacing_mm = 2.0;
  std::vector<std::string> profiles{"scanner_a", "scanner_b", "scanner_c"};
  std::int64_t seed = 0;
};

/// Multi-domain training on simulated scanners (DSBN): every case is also
/// rendered through each profile (as `medseg synth --from` renders a scan),
/// and each rendering is a domain with its own batch-norm statistics.
struct SimulatedScannersConfig {
  /// Domain names in order: "original" (the case as it is) or a
  /// scanner_profile() name. Empty = off. The first is the domain validation
  /// uses and the default at inference.
  std::vector<std::string> profiles;
  std::int64_t seed = 0;  ///< bias field and noise of the renderings
  /// All samples of a batch from one domain (drawn per batch), so each
  /// domain's batch statistics come from the whole batch.
  bool domain_per_batch = true;
};

struct DatasetConfig {
  /// nnU-Net folder, MSD dataset.json or YAML case list (relative paths are
  /// relative to the config file). Empty when `synthetic` is used.
  std::filesystem::path source;
  SyntheticDatasetConfig synthetic;
  SimulatedScannersConfig simulated_scanners;
  /// Cross-validation: cases are split into `num_folds` folds by a seeded
  /// shuffle; fold `fold` validates. Ignored when validation_cases is given.
  std::int64_t num_folds = 5;
  std::int64_t fold = 0;
  std::vector<std::string> validation_cases;
  /// Where preprocessed cases are cached; default OUTPUT/preprocessed.
  std::filesystem::path cache;
  /// Expected labels (value -> name, 0 = background); empty = take the
  /// dataset's. When given, they must equal the dataset's label values.
  std::map<int, std::string> labels;
  /// Where `labels` was written ("'FILE', key 'dataset.labels', line N"),
  /// for the mismatch error found once the dataset is read.
  std::string labels_location;
  /// The largest image (voxels) training reads; unset = the process-wide
  /// limit (--max-voxels, default pipeline::kDefaultMaxVoxels).
  std::optional<std::uint64_t> max_voxels;
};

/// Overrides of the automatic plan; unset fields keep the planned value.
struct PreprocessingConfig {
  std::optional<std::array<double, 3>> target_spacing;
  std::string orientation = "RAS";
  std::optional<bool> crop_to_nonzero;
  /// One per channel, or one for all; empty = planned per channel.
  std::vector<NormalizationKind> normalization;
  std::array<double, 2> window{-1000.0, 1000.0};
  std::array<double, 2> percentiles{0.5, 99.5};
};

/// The network (`model:` in the config): the same nested keys as a bundle's
/// `architecture:` (models/architecture.h reads and writes both), without
/// what the data decides: in_channels, num_classes and norm.num_domains are
/// set from the dataset when training starts.
struct ModelConfig {
  models::UNet3dOptions architecture = models::training_defaults();
  /// Domain (scanner/site) names; empty = the dataset's domains.
  std::vector<std::string> domains;
};

struct TrainingConfig {
  std::int64_t epochs = 50;
  std::int64_t iterations_per_epoch = 50;
  std::int64_t batch_size = 2;
  /// Voxels along i, j, k; unset = the plan's patch size.
  std::optional<std::array<std::int64_t, 3>> patch_size;
  Optimizer optimizer = Optimizer::kSgd;
  double learning_rate = 0.01;
  double momentum = 0.99;
  double weight_decay = 3e-5;
  LrSchedule lr_schedule = LrSchedule::kPoly;
  /// auto: bf16 autocast where the CPU runs bf16 natively, else fp32.
  models::Precision precision = models::Precision::kAuto;
  std::int64_t seed = 0;
  std::int64_t threads = 0;          ///< 0 = all cores
  std::int64_t loader_threads = 1;
  std::int64_t prefetch = 4;         ///< batches queued ahead of the network
  double gradient_clip = 12.0;       ///< max gradient norm; 0 = off
  double foreground_oversampling = 0.33;
  double memory_budget_gib = 2.0;
  /// With more than one process (data-parallel training): normalize with the
  /// statistics of the whole global batch (all ranks), per domain. No effect
  /// in a single process.
  bool sync_batch_norm = true;
  /// Before each validation, re-estimate the batch-norm running statistics
  /// with the current weights over this many training batches (PreciseBN,
  /// pipeline/train/precise_batch_norm.h); 0 = keep the running averages.
  std::int64_t precise_bn_batches = 0;
  /// The last this many epochs train with frozen batch norm: every layer
  /// normalizes with its running statistics (re-estimated first when
  /// precise_bn_batches > 0), as inference does; 0 = batch statistics to the end.
  std::int64_t frozen_bn_epochs = 0;
};

/// One augmentation: applied with `probability`, drawing from `range`.
struct AugmentationParam {
  double probability = 0.0;
  std::array<double, 2> range{0.0, 0.0};
};

struct AugmentationConfig {
  bool enabled = true;
  double flip_probability = 0.5;               ///< per axis
  AugmentationParam rotation{0.2, {-30, 30}};  ///< degrees, about each axis
  AugmentationParam scaling{0.2, {0.7, 1.4}};
  AugmentationParam elastic{0.0, {0.0, 4.0}};  ///< displacement in voxels; off by default (slow)
  AugmentationParam gain{0.15, {0.75, 1.25}};  ///< multiplicative brightness
  AugmentationParam offset{0.15, {-0.1, 0.1}}; ///< additive, in standard deviations
  AugmentationParam contrast{0.15, {0.75, 1.25}};
  AugmentationParam gamma{0.3, {0.7, 1.5}};
  double gamma_invert_probability = 0.1;
  AugmentationParam bias_field{0.1, {0.0, 0.3}};
  AugmentationParam noise{0.1, {0.0, 0.1}};    ///< noise variance
  AugmentationParam blur{0.2, {0.5, 1.0}};     ///< sigma in voxels
  AugmentationParam low_resolution{0.25, {0.5, 1.0}};  ///< zoom factor
  /// Contrast inversion inside the body; range = blend weight (1 = full).
  AugmentationParam inversion{0.0, {1.0, 1.0}};
  /// Random piecewise-linear (non-monotone) remap; range = knot amplitude.
  AugmentationParam remap{0.0, {0.1, 0.5}};
  /// Draw the intensity transforms once per batch instead of once per patch:
  /// every patch of a batch then looks like one simulated scanner, so batch
  /// norm trains on one scanner's statistics at a time, as AdaBN adapts to
  /// one scanner at inference (docs/scanner_training.md).
  bool scanner_per_batch = false;
};

struct ValidationConfig {
  std::int64_t every = 5;  ///< epochs
  double overlap = 0.5;
};

/// Settings the bundle carries for `medseg infer --domain auto`.
struct AdaptationConfig {
  /// The safety check's minimum relabelled share for this model
  /// (models::BundleInfo::adapt_min_change); unset = medseg's default.
  std::optional<double> min_change;
  /// The methods `--domain auto` tries (models::BundleInfo::adapt_methods);
  /// empty = medseg's default.
  std::vector<AdaptationMethod> methods;
  /// Whether the safety check decides (models::BundleInfo::adapt_check);
  /// unset = medseg's default (checked).
  std::optional<bool> check;
  /// `prior` / `tent`: windows drawn per scan and the strength of the
  /// model's statistics (models::BundleInfo::adapt_prior_windows /
  /// adapt_prior_strength); unset = medseg's defaults.
  std::optional<std::int64_t> prior_windows;
  std::optional<double> prior_strength;
};

struct TrainConfig {
  std::filesystem::path file;  ///< the YAML file it came from
  DatasetConfig dataset;
  PreprocessingConfig preprocessing;
  ModelConfig model;
  TrainingConfig training;
  AugmentationConfig augmentation;
  ValidationConfig validation;
  AdaptationConfig adaptation;
  std::filesystem::path output;
};

/// Reads and validates a training config. `overrides` are "key.path=value"
/// strings (from --set) applied before validation; the value is parsed as
/// YAML. Throws ConfigError naming the file, the key path and the line for an
/// unknown key, a wrong type or an out-of-range value, or a missing dataset.
TrainConfig load_train_config(const std::filesystem::path& file,
                              const std::vector<std::string>& overrides = {});

/// Reads a config written by to_yaml() (a run folder's config.yaml): as
/// load_train_config, but its paths, already resolved, are taken as written
/// instead of relative to the file's folder.
TrainConfig load_saved_train_config(const std::filesystem::path& file);

/// The effective config (every default filled in) as YAML text; loading it
/// again gives the same TrainConfig.
std::string to_yaml(const TrainConfig& config);

}  // namespace medseg::pipeline
