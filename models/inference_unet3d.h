#pragma once
// A trained UNet3d rebuilt for inference with one domain's statistics: every
// eval-mode batch norm (batch, batch_renorm with running statistics) is an
// affine map per channel, so it is folded into the convolution before it
// (one pass over each activation instead of two); transposed up-sampling
// becomes its exact 1x1x1 conv + pixel-shuffle form (ConvTranspose3d is
// several times slower here); only the full-resolution head runs. Instance
// and group norm depend on the input itself and stay as they are; IBN-a's
// split layers fold their batch half and keep only the instance half.
// Built after any adaptation (AdaBN changes the statistics that are folded).
// Not a torch::nn::Module: it is a frozen snapshot for one domain, never
// trained, cloned or saved (the bundle keeps the UNet3d).
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "models/unet3d.h"

namespace medseg::models {

class DomainBatchNormImpl;

struct InferenceUNet3dOptions {
  /// Weights stored as bfloat16 and the forward run under bf16 autocast
  /// (as Bf16Autocast does for UNet3d); false = float32.
  TORCH_ARG(bool, bf16) = false;
  /// Weights and activations in channels-last 3D (N, D, H, W, C) memory.
  TORCH_ARG(bool, channels_last) = false;
};

class InferenceUNet3d {
 public:
  /// Folds `model`'s parameters and the statistics of `domain` (0..K-1 for
  /// batch kinds, ignored otherwise). `model` must be in eval mode; the
  /// result does not change when `model` changes later, except through the
  /// norm layers kept unfolded (shared with `model`).
  /// Throws ModelError for a model in training mode or a bad domain.
  InferenceUNet3d(const UNet3d& model, int64_t domain, InferenceUNet3dOptions options = {});

  /// Full-resolution logits (N, num_classes, D, H, W), float32 (bf16:
  /// converted back), for float32 input (N, in_channels, D, H, W); D, H, W
  /// divisible by the total stride. No gradients are recorded.
  torch::Tensor forward(const torch::Tensor& x) const;

  /// Convolution blocks whose batch statistics were folded (IBN-a's split
  /// layers included: their batch half), and all of them.
  int64_t folded_norms() const { return folded_; }
  int64_t conv_blocks() const { return static_cast<int64_t>(encoder_.size() + decoder_.size()); }

  const UNet3dOptions& options() const { return unet_options_; }

  /// IBN-a's split layer once its batch half is folded: the first `count`
  /// output channels are still normalized per sample over the window
  /// (instance norm, biased variance), then scaled and shifted per channel.
  struct InstanceChannels {
    int64_t count = 0;             ///< 0: no such channels
    torch::Tensor weight, bias;    ///< (count) float32, or undefined (no affine)
    double eps = 1e-5;
  };

  /// One convolution as forward() runs it, for another executor of the same
  /// network (models/onednn_unet3d.h).
  struct FoldedConv {
    torch::Tensor weight, bias;  ///< (O, I, kd, kh, kw) and (O), float32 or bf16 as stored
    std::vector<int64_t> stride, padding;
    bool norm_kept = false;      ///< a norm that could not be folded runs after it
    InstanceChannels instance;   ///< normalized after the convolution, before LeakyReLU
  };
  struct FoldedLayers {
    std::vector<FoldedConv> encoder;  ///< per level a, then b
    std::vector<FoldedConv> up;       ///< per decoder step, deepest first
    std::vector<FoldedConv> decoder;  ///< per decoder step a, then b
    std::vector<Int3> up_stride_dhw;  ///< pixel-shuffle factor per decoder step
    FoldedConv head;
  };
  FoldedLayers folded_layers() const;

 private:
  struct ConvLayer {
    torch::Tensor weight, bias;
    std::vector<int64_t> stride, padding;
    /// The kept norm (instance, group, unfoldable batch norm), or empty.
    torch::nn::AnyModule norm;
    InstanceChannels instance;
  };
  ConvLayer conv_block(const ConvBlockImpl& block, int64_t domain);
  /// Multiplies `bn`'s eval map for `domain` into the rows of (double) `weight` and `bias`.
  void fold_batch_norm(const DomainBatchNormImpl& bn, int64_t domain, torch::Tensor& weight, torch::Tensor& bias);
  ConvLayer plain_conv(const torch::Tensor& weight, const torch::Tensor& bias) const;
  torch::Tensor run_block(const ConvLayer& layer, const torch::Tensor& x, const torch::Tensor& ids) const;
  torch::Tensor run_conv(const ConvLayer& layer, const torch::Tensor& x) const;
  torch::Tensor shuffle(const torch::Tensor& x, const Int3& stride_dhw) const;

  UNet3dOptions unet_options_;
  InferenceUNet3dOptions options_;
  int64_t domain_ = 0;
  bool use_onednn_ = true;
  int64_t folded_ = 0;
  // encoder_: per level a then b; decoder_: per decoder step a then b.
  std::vector<ConvLayer> encoder_, decoder_, up_;
  std::vector<Int3> up_stride_dhw_;
  ConvLayer head_;
};

}  // namespace medseg::models
