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
#include <vector>

namespace medseg::pipeline {

/// Phantoms from `medseg synth`, drawn from simulated scanners (each scanner
/// profile is a domain).
struct SyntheticDatasetConfig {
  std::int64_t count = 0;  ///< cases per profile; 0 = no synthetic dataset
  std::int64_t size = 48;  ///< voxels per axis
  double spacing_mm = 2.0;
  std::vector<std::string> profiles{"scanner_a", "scanner_b", "scanner_c"};
  std::int64_t seed = 0;
};

struct DatasetConfig {
  /// nnU-Net folder, MSD dataset.json or YAML case list (relative paths are
  /// relative to the config file). Empty when `synthetic` is used.
  std::filesystem::path source;
  SyntheticDatasetConfig synthetic;
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
};

/// Overrides of the automatic plan; unset fields keep the planned value.
struct PreprocessingConfig {
  std::optional<std::array<double, 3>> target_spacing;
  std::string orientation = "RAS";
  std::optional<bool> crop_to_nonzero;
  /// One per channel, or one for all: ct, zscore, window, percentile, none.
  std::vector<std::string> normalization;
  std::array<double, 2> window{-1000.0, 1000.0};
  std::array<double, 2> percentiles{0.5, 99.5};
};

struct ModelConfig {
  std::int64_t base_features = 16;
  std::int64_t max_features = 256;
  std::int64_t depth = 4;  ///< resolution levels (down-samplings = depth - 1)
  /// Per-level kernel sizes and strides; empty = 3x3x3 and 2x2x2 (level 0: 1).
  std::vector<std::array<std::int64_t, 3>> kernel_sizes;
  std::vector<std::array<std::int64_t, 3>> strides;
  std::string norm = "batch";  ///< batch, instance, group, batch_renorm, none
  std::int64_t num_groups = 8;
  std::optional<double> norm_momentum = 0.1;  ///< null = cumulative average
  double norm_eps = 1e-5;
  bool domain_affine = false;
  double renorm_r_max = 3.0;
  double renorm_d_max = 5.0;
  std::int64_t renorm_warmup_steps = 100;
  /// Domain (scanner/site) names; empty = the dataset's domains.
  std::vector<std::string> domains;
  bool deep_supervision = true;
  double dropout = 0.0;
  double negative_slope = 0.01;  ///< LeakyReLU
};

struct TrainingConfig {
  std::int64_t epochs = 50;
  std::int64_t iterations_per_epoch = 50;
  std::int64_t batch_size = 2;
  /// Voxels along i, j, k; unset = the plan's patch size.
  std::optional<std::array<std::int64_t, 3>> patch_size;
  std::string optimizer = "sgd";  ///< sgd (Nesterov) or adamw
  double learning_rate = 0.01;
  double momentum = 0.99;
  double weight_decay = 3e-5;
  std::string lr_schedule = "poly";  ///< poly (exponent 0.9) or constant
  std::string precision = "fp32";    ///< fp32 or bf16
  std::int64_t seed = 0;
  std::int64_t threads = 0;          ///< 0 = all cores
  std::int64_t loader_threads = 1;
  std::int64_t prefetch = 4;         ///< batches queued ahead of the network
  double gradient_clip = 12.0;       ///< max gradient norm; 0 = off
  double foreground_oversampling = 0.33;
  double memory_budget_gib = 2.0;
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
};

struct ValidationConfig {
  std::int64_t every = 5;  ///< epochs
  double overlap = 0.5;
};

struct TrainConfig {
  std::filesystem::path file;  ///< the YAML file it came from
  DatasetConfig dataset;
  PreprocessingConfig preprocessing;
  ModelConfig model;
  TrainingConfig training;
  AugmentationConfig augmentation;
  ValidationConfig validation;
  std::filesystem::path output;
};

/// Reads and validates a training config. `overrides` are "key.path=value"
/// strings (from --set) applied before validation; the value is parsed as
/// YAML. Throws ConfigError naming the file, the key path and the line for an
/// unknown key, a wrong type or an out-of-range value, or a missing dataset.
TrainConfig load_train_config(const std::filesystem::path& file,
                              const std::vector<std::string>& overrides = {});

/// The effective config (every default filled in) as YAML text; loading it
/// again gives the same TrainConfig.
std::string to_yaml(const TrainConfig& config);

}  // namespace medseg::pipeline
