#pragma once
// What was measured about a dataset (nnU-Net's "fingerprint"): spacings,
// sizes and foreground intensities. Kept apart from what is decided from it.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline/data/dataset.h"
#include "pipeline/preprocess/normalize.h"

namespace medseg::pipeline {

struct CaseFingerprint {
  std::string id;
  /// Spacing (mm) and size (voxels) after reorientation to the fingerprint's
  /// orientation; `cropped_size` after cropping to the nonzero box.
  std::array<double, 3> spacing{};
  std::array<std::int64_t, 3> size{};
  std::array<std::int64_t, 3> cropped_size{};
};

struct DatasetFingerprint {
  std::string orientation;
  std::vector<CaseFingerprint> cases;
  /// Per channel: statistics of image values inside the labelled
  /// foreground (label > 0), pooled over cases.
  std::vector<IntensityStats> foreground_intensity;
  /// Voxel count of every label value over the dataset.
  std::map<int, std::int64_t> label_voxels;
};

struct FingerprintOptions {
  std::string orientation = "RAS";
  /// At most this many foreground voxels per case and channel enter the
  /// intensity statistics (an even stride through the foreground, so the
  /// result is deterministic). nnU-Net samples 10^7 / num_cases at random.
  std::int64_t max_foreground_samples_per_case = 100000;
};

/// Reads every case (labels required) and measures it. Throws IoError for
/// unreadable files; run check_dataset() first for a full report.
DatasetFingerprint compute_fingerprint(const Dataset& dataset, const FingerprintOptions& options = {});

}  // namespace medseg::pipeline
