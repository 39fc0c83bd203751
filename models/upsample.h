#pragma once
// Learned up-sampling for the U-Net decoder. A transposed convolution with
// kernel = stride equals a 1x1x1 convolution to C_out * prod(stride) channels
// followed by a 3D pixel shuffle; on this CPU ConvTranspose3d runs at ~2
// GFLOP/s while Conv3d reaches ~37 (fp32) to ~500 (bf16), so the shuffle
// form is the default. Weights convert between the two layouts exactly.
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <array>
#include <cstdint>

namespace medseg::models {

enum class UpsampleKind { kPixelShuffle, kTransposedConv };

using Int3 = std::array<int64_t, 3>;

struct UpsampleOptions {
  UpsampleOptions(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> stride);
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  /// Along tensor dims (D, H, W).
  TORCH_ARG(Int3, stride);
  TORCH_ARG(UpsampleKind, kind) = UpsampleKind::kPixelShuffle;
};

class UpsampleImpl : public torch::nn::Cloneable<UpsampleImpl> {
 public:
  explicit UpsampleImpl(UpsampleOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  UpsampleOptions options;
  torch::nn::Conv3d conv{nullptr};                  ///< kPixelShuffle
  torch::nn::ConvTranspose3d transposed{nullptr};   ///< kTransposedConv
};
TORCH_MODULE(Upsample);

/// Rearranges (N, C * sd * sh * sw, D, H, W) into (N, C, D * sd, H * sh, W * sw).
torch::Tensor pixel_shuffle_3d(const torch::Tensor& x, const std::array<int64_t, 3>& stride);

/// ConvTranspose3d weight (C_in, C_out, sd, sh, sw) -> 1x1x1 Conv3d weight
/// (C_out * sd * sh * sw, C_in, 1, 1, 1), and the bias (C_out) -> repeated.
torch::Tensor transposed_to_shuffle_weight(const torch::Tensor& weight);
torch::Tensor transposed_to_shuffle_bias(const torch::Tensor& bias, const std::array<int64_t, 3>& stride);
/// The inverse of transposed_to_shuffle_weight.
torch::Tensor shuffle_to_transposed_weight(const torch::Tensor& weight, int64_t out_channels,
                                           const std::array<int64_t, 3>& stride);

}  // namespace medseg::models
