#pragma once
// Sliding-window inference: tile a volume with overlapping patches, run the
// network on batches of them, and blend the logits with a Gaussian weight.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace medseg::pipeline {

/// Start offsets of windows of `patch` voxels covering `size` voxels with at
/// least `overlap` (0..1) shared between neighbours, evenly spread, the first
/// at 0 and the last at size - patch (nnU-Net's placement). A volume smaller
/// than the patch gets one window at 0 (the caller pads).
std::vector<std::int64_t> window_starts(std::int64_t size, std::int64_t patch, double overlap);

/// 1D Gaussian weights of a window (σ = patch · sigma_scale, centred on
/// patch / 2, max 1, floored at the smallest positive value so edges still
/// count). The 3D importance map is the outer product along i, j, k.
at::Tensor gaussian_weights_1d(std::int64_t patch, double sigma_scale = 1.0 / 8.0);

/// Runs the network on (N, C, pd, ph, pw) float input, returns logits
/// (N, K, pd, ph, pw).
using Predictor = std::function<at::Tensor(const at::Tensor& input)>;

/// Called with the fraction done (0..1); return false to cancel.
using ProgressCallback = std::function<bool(double fraction)>;

struct SlidingWindowOptions {
  std::array<std::int64_t, 3> patch_size{64, 64, 64};  ///< voxels along i, j, k
  double overlap = 0.5;
  std::int64_t windows_per_batch = 2;
  /// Test-time augmentation: average over all 8 combinations of flips.
  bool mirror = false;
  /// Blend weights: Gaussian (σ = patch/8) or constant.
  bool gaussian = true;
  /// Optional bool (D, H, W) mask of the image's body (body_mask.h). A window
  /// with no body voxel is not run: it is blended with the logits of one
  /// window filled with `background`, computed once — what the network
  /// returns for such a window — so the Gaussian weights stay as they were.
  at::Tensor body_mask;
  /// (C) float32 value of every channel outside the body; with body_mask.
  at::Tensor background;
  ProgressCallback progress;
};

/// How many windows tiled the volume, and how many of them were not run.
struct SlidingWindowStats {
  std::int64_t windows = 0;
  std::int64_t skipped = 0;
};

/// Blended logits (K, D, H, W) float32 for `image` (C, D, H, W). Memory: the
/// accumulator is the only full-size buffer (one float per class and
/// voxel); the weight normalization is separable (windows lie on a grid and
/// the Gaussian is a product of 1D Gaussians), so no weight volume is kept.
/// Throws medseg::Cancelled when `progress` returns false. Windows are
/// blended in the same order whether or not some are skipped.
at::Tensor sliding_window_predict(const at::Tensor& image, const Predictor& predictor,
                                  const SlidingWindowOptions& options, SlidingWindowStats* stats = nullptr);

}  // namespace medseg::pipeline
