#pragma once
// The 3D U-Net (nnU-Net's PlainConvUNet layout): per level two conv blocks
// (conv -> dropout -> norm -> LeakyReLU), strided convolutions to go down,
// learned up-sampling to come back, skip connections by concatenation, a
// 1x1x1 segmentation head per decoder level for deep supervision.
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "models/norm.h"
#include "models/upsample.h"

namespace medseg::models {

struct UNet3dOptions {
  UNet3dOptions(int64_t in_channels, int64_t num_classes);
  TORCH_ARG(int64_t, in_channels);
  /// Output channels, background included.
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, base_features) = 16;
  TORCH_ARG(int64_t, max_features) = 256;
  /// Resolution levels (down-samplings = depth - 1).
  TORCH_ARG(int64_t, depth) = 4;
  /// Per level, along index axes (i, j, k); empty = 3 everywhere.
  TORCH_ARG(std::vector<Int3>, kernel_sizes) = {};
  /// Per level, along (i, j, k); level 0 is normally 1; empty = 1 then 2.
  TORCH_ARG(std::vector<Int3>, strides) = {};
  TORCH_ARG(NormOptions, norm) = NormOptions(NormKind::kBatch);
  TORCH_ARG(double, negative_slope) = 0.01;
  /// Auxiliary outputs at lower resolutions while training.
  TORCH_ARG(bool, deep_supervision) = false;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(UpsampleKind, upsample) = UpsampleKind::kPixelShuffle;
};

/// Product of the per-level strides along (i, j, k): patch sides and network
/// inputs must be multiples of it.
Int3 total_stride(const UNet3dOptions& options);

/// conv -> dropout -> norm -> LeakyReLU, with domain ids passed to the norm.
/// `instance_channels` > 0: that many channels use instance norm (IBN
/// levels; see make_norm).
class ConvBlockImpl : public torch::nn::Cloneable<ConvBlockImpl> {
 public:
  ConvBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel_dhw, std::array<int64_t, 3> stride_dhw,
                const NormOptions& norm, double negative_slope, double dropout, int64_t instance_channels = 0);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& domain_ids = {});

  torch::nn::Conv3d conv{nullptr};
  torch::nn::AnyModule norm;

 private:
  int64_t in_, out_;
  std::array<int64_t, 3> kernel_, stride_;
  NormOptions norm_options_;
  double negative_slope_, dropout_;
  int64_t instance_channels_;
};
TORCH_MODULE(ConvBlock);

class UNet3dImpl : public torch::nn::Cloneable<UNet3dImpl> {
 public:
  explicit UNet3dImpl(UNet3dOptions options);
  void reset() override;

  /// Logits (N, num_classes, D, H, W) for input (N, in_channels, D, H, W);
  /// `domain_ids` int64 (N) or undefined (domain 0) reach every norm layer.
  /// D, H, W must be divisible by total_stride() (along k, j, i): an error
  /// says so — the caller pads (sliding windows use planned patch sizes).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& domain_ids = {});
  /// Full-resolution logits first, then (training with deep supervision)
  /// the auxiliary logits at 1/2, 1/4, ... resolution.
  std::vector<torch::Tensor> forward_all(const torch::Tensor& x, const torch::Tensor& domain_ids = {});

  /// Product of the strides along (i, j, k).
  std::array<int64_t, 3> total_stride() const;
  void pretty_print(std::ostream& stream) const override;

  UNet3dOptions options;

 private:
  std::vector<std::array<int64_t, 3>> strides_ijk() const;
  std::vector<std::array<int64_t, 3>> kernels_ijk() const;
  int64_t features(int64_t level) const;

  std::vector<ConvBlock> encoder_a_, encoder_b_, decoder_a_, decoder_b_;
  std::vector<Upsample> up_;
  std::vector<torch::nn::Conv3d> heads_;
};
TORCH_MODULE(UNet3d);

}  // namespace medseg::models
