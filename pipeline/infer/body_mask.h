#pragma once
// Where the body is, without labels: the preprocessed image's background is
// its lowest value per channel — CT: air and everything below the
// normalization's lower clip (the dataset's 0.5 % foreground percentile, far
// above air's -1000 HU), MRI: the zero background — and a voxel belongs to
// the body when any channel rises above that. Sliding-window inference runs
// no network on windows without a body voxel (sliding_window.h).
#include <ATen/core/Tensor.h>

namespace medseg::pipeline {

struct BodyMask {
  /// bool (D, H, W): some channel is above its background by more than the
  /// tolerance.
  at::Tensor mask;
  /// float32 (C): each channel's background (its minimum).
  at::Tensor background;
};

/// The body of a preprocessed float (C, D, H, W) image. `tolerance` is in
/// the image's (normalized) units; it absorbs the rounding of resampling a
/// constant background. A noisy background is body everywhere: nothing is
/// skipped then, which is slower but never wrong.
BodyMask body_mask(const at::Tensor& image, double tolerance = 1e-3);

}  // namespace medseg::pipeline
