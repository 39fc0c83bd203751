#pragma once
// What was measured about a dataset (nnU-Net's "fingerprint"): spacings,
// sizes and foreground intensities. Kept apart from what is decided from it.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/data/dataset.h"
#include "pipeline/preprocess/normalize.h"
#include "pipeline/volume.h"

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

/// Measures cases one at a time, so that a pass that reads every case for
/// another reason (check_dataset()) can fingerprint them on the way instead
/// of reading the dataset a second time.
class FingerprintBuilder {
 public:
  FingerprintBuilder(const Dataset& dataset, const FingerprintOptions& options = {});
  ~FingerprintBuilder();
  FingerprintBuilder(const FingerprintBuilder&) = delete;
  FingerprintBuilder& operator=(const FingerprintBuilder&) = delete;

  /// One case as read from its files (any orientation). Throws IoError when
  /// the number of images or their sizes disagree with the labels.
  void add(const CaseEntry& c, const Volume& labels, const std::vector<Volume>& images);

  /// The fingerprint of the cases added. Throws IoError when none of them
  /// has a foreground voxel.
  DatasetFingerprint finish();

 private:
  struct State;
  const Dataset& dataset_;
  FingerprintOptions options_;
  std::unique_ptr<State> state_;
};

/// Reads every case (labels required) and measures it. Throws IoError for
/// unreadable files; run check_dataset() first for a full report (or pass a
/// FingerprintBuilder to it to do both in one reading).
DatasetFingerprint compute_fingerprint(const Dataset& dataset, const FingerprintOptions& options = {});

}  // namespace medseg::pipeline
