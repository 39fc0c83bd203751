#pragma once
// Training augmentation: spatial (flips, rotation, scaling, elastic) and
// intensity transforms that imitate other scanners (gain/offset, contrast,
// gamma incl. inverted, bias field, noise, blur, low resolution, contrast
// inversion inside the body, non-monotone remaps); the transforms themselves
// are in intensity_transforms.h.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

#include "pipeline/config/train_config.h"
#include "pipeline/train/patch_sampler.h"

namespace medseg::pipeline {

struct Patch {
  at::Tensor image;   ///< float32 (C, pd, ph, pw)
  at::Tensor labels;  ///< int64 (pd, ph, pw)
};

/// Extracts `patch_size` voxels around `center` (i, j, k) with zero padding
/// outside the volume (labels: background). No augmentation.
Patch extract_patch(const TrainingCase& c, const std::array<std::int64_t, 3>& center,
                    const std::array<std::int64_t, 3>& patch_size);

/// Rotation (radians about the i, j, k axes), scale and an optional
/// displacement field (3, pd, ph, pw; voxels along i, j, k).
struct SpatialParams {
  std::array<double, 3> angles{0, 0, 0};
  double scale = 1.0;
  at::Tensor displacement;
};

/// Samples the case through the transform in one trilinear (image) /
/// nearest (labels) lookup from the whole volume, so rotated corners show
/// real neighbouring tissue instead of padding. Output voxel o (relative to
/// the patch centre) reads input position center + R * (o / scale) + displacement.
Patch transform_patch(const TrainingCase& c, const std::array<std::int64_t, 3>& center,
                      const std::array<std::int64_t, 3>& patch_size, const SpatialParams& params);

/// Knots of the random intensity remap (augmentation.remap).
inline constexpr std::size_t kRemapKnots = 5;

class Augmenter {
 public:
  Augmenter(AugmentationConfig config, std::array<std::int64_t, 3> patch_size);
  /// The augmented patch at `location`; all randomness comes from `random`
  /// (and a tensor generator seeded from it), except, when `scanner` is given
  /// (augmentation.scanner_per_batch), the intensity transforms' parameters:
  /// they are drawn from a copy of `scanner`, so every patch given the same
  /// one looks like the same simulated scanner (its noise still differs).
  Patch operator()(const TrainingCase& c, const PatchLocation& location, Random& random,
                   const Random* scanner = nullptr) const;
  /// Intensity transforms only, in place on a (C, pd, ph, pw) image; noise
  /// and other tensor randomness from `noise` when given, else from `random`.
  void augment_intensity(at::Tensor& image, Random& random, Random* noise = nullptr) const;
  bool scanner_per_batch() const { return config_.enabled && config_.scanner_per_batch; }

 private:
  AugmentationConfig config_;
  std::array<std::int64_t, 3> patch_size_;
};

}  // namespace medseg::pipeline
