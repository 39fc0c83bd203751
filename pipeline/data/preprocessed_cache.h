#pragma once
// Preprocessed cases on disk, keyed by the plan, so a restarted training
// does not preprocess again (nnU-Net's nnUNet_preprocessed folder).
#include <filesystem>
#include <optional>
#include <string>

#include "pipeline/data/dataset.h"
#include "pipeline/preprocess/preprocessor.h"

namespace medseg::pipeline {

/// Hex key of a plan: FNV-1a of its canonical JSON.
std::string plan_key(const PreprocessingPlan& plan);

class PreprocessedCache {
 public:
  /// Cases live in `root`/<plan_key>/; created on first store.
  PreprocessedCache(std::filesystem::path root, const PreprocessingPlan& plan);

  /// The cached case when present and made from the same source files
  /// (path, size and modification time of every image and label).
  std::optional<PreprocessedCase> load(const CaseEntry& entry) const;
  /// Writes atomically: data first, then the JSON that marks it complete.
  void store(const CaseEntry& entry, const PreprocessedCase& preprocessed) const;
  /// load(), or read + preprocess + store.
  PreprocessedCase get_or_compute(const CaseEntry& entry, const Preprocessor& preprocessor) const;

  const std::filesystem::path& folder() const { return folder_; }

 private:
  std::filesystem::path folder_;
};

}  // namespace medseg::pipeline
