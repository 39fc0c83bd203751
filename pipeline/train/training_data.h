#pragma once
// From a training config to cases in memory: read (or synthesize) the
// dataset, check it, fingerprint and plan it, apply the config's overrides,
// preprocess through the cache, and split training from validation.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/config/train_config.h"
#include "pipeline/data/dataset.h"
#include "pipeline/data/fingerprint.h"
#include "pipeline/data/planner.h"
#include "pipeline/train/training_case.h"

namespace medseg::pipeline {

struct TrainingData {
  Dataset dataset;
  DatasetFingerprint fingerprint;
  /// The plan with the config's overrides applied.
  DatasetPlan plan;
  /// Patch size used for training and validation (i, j, k).
  std::array<std::int64_t, 3> patch_size{};
  /// Output classes of the network: largest label value + 1 (background included).
  std::int64_t num_classes = 0;
  /// Domain names; case.domain indexes this list.
  std::vector<std::string> domains;
  std::vector<TrainingCase> training;
  std::vector<TrainingCase> validation;
};

/// Writes the phantoms a synthetic dataset config asks for into `folder`
/// (skipping files already there: phantoms are deterministic) with a YAML
/// case list (each scanner profile a domain); returns the case list path.
std::filesystem::path write_synthetic_dataset(const SyntheticDatasetConfig& config, const std::filesystem::path& folder);

/// `entry` as the scanner `profile` would show it (`medseg synth --from`:
/// simulate_scanner_on_image with a seed derived from `seed` and the case):
/// its images rendered once into `folder` (kept: deterministic), id
/// "ID_PROFILE", domain `profile`. "original" returns `entry` unchanged.
CaseEntry render_through_profile(const CaseEntry& entry, const std::string& profile, std::uint64_t seed,
                                 const std::filesystem::path& folder);

/// Ids of the validation cases of fold `fold` of `num_folds`: the sorted ids
/// are shuffled with a fixed seed and dealt round-robin into folds.
std::vector<std::string> validation_fold(std::vector<std::string> ids, std::int64_t num_folds, std::int64_t fold);

/// Everything above; patch sides must be multiples of the U-Net's
/// `total_stride` (i, j, k). `log` receives one line per step. Throws ConfigError
/// (config vs dataset: label mismatch, unknown validation case, patch size
/// not divisible) or IoError (dataset problems, all of them listed).
TrainingData prepare_training_data(const TrainConfig& config, const std::array<std::int64_t, 3>& total_stride,
                                   const std::function<void(const std::string&)>& log);

}  // namespace medseg::pipeline
