#pragma once
// The folded inference network (models/inference_unet3d.h) run on oneDNN's
// own API instead of one LibTorch call per layer: activations stay in
// oneDNN's blocked layout from the first convolution to the head (LibTorch's
// mkldnn_convolution reorders every input and output to and from NCDHW, 18 %
// of the forward: docs/performance.md), LeakyReLU runs as the convolution's
// post-op, and pixel shuffle and skip concatenation are one pass into the
// decoder's input. Same contract and results as InferenceUNet3d::forward
// within float rounding (bf16: within bf16 rounding). float32, or bf16 where
// the CPU runs it natively; only networks whose every norm was folded (the
// bundled batch-norm models), or folded but for IBN-a's instance channels
// (normalized per window after their convolution, then LeakyReLU).
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "models/inference_unet3d.h"

namespace medseg::models {

/// Which layers run on medseg's own kernel (models/direct_conv3x3x3.h: 3x3x3,
/// 8 or 16 output channels, float32 arithmetic) instead of oneDNN's, on CPUs
/// with AVX2 + FMA. The first layer (one float32 input channel) fits in
/// float32 and bf16 networks, the others in float32 ones.
enum class DirectKernels {
  where_faster,  ///< every fitting layer where oneDNN's kernels are AVX2 ones (below AVX-512), else a bf16 network's first with AMX
  always,        ///< wherever a layer fits (tests, benchmarks)
  never,         ///< oneDNN only
};

class OnednnUNet3d {
 public:
  /// Throws ModelError when `network` cannot run here: a norm kept unfolded
  /// (instance, group; not IBN-a's split ones), or bf16 weights on a CPU
  /// without native bf16.
  explicit OnednnUNet3d(const InferenceUNet3d& network, DirectKernels direct = DirectKernels::where_faster);
  ~OnednnUNet3d();
  OnednnUNet3d(const OnednnUNet3d&) = delete;
  OnednnUNet3d& operator=(const OnednnUNet3d&) = delete;

  /// As InferenceUNet3d::forward. The primitives and buffers of one input
  /// shape are built on its first call and reused; calls are serialized.
  torch::Tensor forward(const torch::Tensor& x) const;

  /// Whether `network` can run on this executor (see the constructor).
  static bool supports(const InferenceUNet3d& network);

  /// How many layers run on the direct kernel (known after the first call
  /// for an input shape; 0 before).
  int direct_layers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// `model` (eval mode) with `domain`'s statistics folded, as `medseg infer`
/// runs it: on oneDNN's own API where OnednnUNet3d::supports() it, else the
/// LibTorch InferenceUNet3d. Maps (N, C, D, H, W) float32 windows to float32
/// logits; later changes to `model` do not reach it.
std::function<torch::Tensor(const torch::Tensor&)> folded_forward(const UNet3d& model, int64_t domain, bool bf16);

}  // namespace medseg::models
