#pragma once
// What is decided from a fingerprint (nnU-Net's "plans"): target spacing,
// normalization with its statistics, patch size.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/data/fingerprint.h"
#include "pipeline/preprocess/preprocessor.h"

namespace medseg::pipeline {

/// nnU-Net's rule: the median spacing per axis; when one axis is more than
/// `anisotropy_threshold` times coarser than the others AND the median
/// size along it (in voxels, at that spacing) is more than
/// `anisotropy_threshold` times smaller than along the others, that axis
/// takes the 10th percentile of its spacings instead (but no finer than the
/// other axes), so thick-slice scans are not upsampled into blur.
std::array<double, 3> plan_target_spacing(const std::vector<std::array<double, 3>>& spacings,
                                          const std::vector<std::array<std::int64_t, 3>>& sizes,
                                          double anisotropy_threshold = 3.0);

/// Estimated training memory (bytes) of one patch of `voxels` voxels for a
/// U-Net with `base_features` at full resolution, float32, batch size
/// `batch`: ~16 * base_features activations kept per voxel for the backward
/// pass (two conv+norm+activation blocks per level, features doubling as
/// resolution drops by 8, summed over levels ~ 4/3), times 4 bytes.
std::int64_t estimate_training_bytes(std::int64_t voxels, int base_features, int batch);

/// Largest patch (voxels along i, j, k), each a multiple of `divisor`, no
/// bigger than the median image (rounded up to `divisor`), whose estimated
/// training memory fits `budget_bytes`: starting from the median shape,
/// the axis with the largest physical extent shrinks by `divisor` until it
/// fits.
std::array<std::int64_t, 3> plan_patch_size(const std::array<double, 3>& median_shape,
                                            const std::array<double, 3>& spacing,
                                            std::int64_t budget_bytes, int base_features, int batch,
                                            std::int64_t divisor);

struct PlanOptions {
  std::string orientation = "RAS";
  /// Training memory budget for the patch (default 2 GiB: a 2-core CPU
  /// machine trains small patches).
  std::int64_t memory_budget_bytes = 2LL << 30;
  int base_features = 32;
  int batch_size = 2;
  /// Patch sides are multiples of this (2^number of down-samplings).
  std::int64_t divisor = 16;
};

struct DatasetPlan {
  PreprocessingPlan preprocessing;
  std::array<std::int64_t, 3> patch_size{};
  /// Median size in voxels after resampling to the target spacing.
  std::array<double, 3> median_shape{};
};

/// Channels named "CT" (any case) get the "ct" recipe with the dataset's
/// foreground statistics; every other channel gets "zscore" (inside the
/// nonzero mask when cropping removed more than a quarter of the volume,
/// nnU-Net's rule).
DatasetPlan plan_dataset(const Dataset& dataset, const DatasetFingerprint& fingerprint,
                         const PlanOptions& options = {});

}  // namespace medseg::pipeline
