#include "models/upsample.h"

#include <torch/torch.h>

#include "models/check.h"

namespace medseg::models {

UpsampleOptions::UpsampleOptions(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> stride)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {}

UpsampleImpl::UpsampleImpl(UpsampleOptions options_) : options(std::move(options_)) { reset(); }

void UpsampleImpl::reset() {
  const auto& s = options.stride();
  if (options.kind() == UpsampleKind::kTransposedConv) {
    transposed = register_module(
        "transposed", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(
                                                     options.in_channels(), options.out_channels(),
                                                     torch::ExpandingArray<3>(at::IntArrayRef(s.data(), 3)))
                                                     .stride(torch::ExpandingArray<3>(at::IntArrayRef(s.data(), 3)))));
  } else {
    conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(
                                                         options.in_channels(),
                                                         options.out_channels() * s[0] * s[1] * s[2], 1)));
    // Initialise like the transposed convolution it stands for, so both
    // forms start from the same distribution.
    torch::NoGradGuard no_grad;
    torch::nn::ConvTranspose3d reference(torch::nn::ConvTranspose3dOptions(
        options.in_channels(), options.out_channels(), torch::ExpandingArray<3>(at::IntArrayRef(s.data(), 3)))
                                             .stride(torch::ExpandingArray<3>(at::IntArrayRef(s.data(), 3))));
    conv->weight.copy_(transposed_to_shuffle_weight(reference->weight));
    conv->bias.copy_(transposed_to_shuffle_bias(reference->bias, s));
  }
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  if (options.kind() == UpsampleKind::kTransposedConv) return transposed->forward(x);
  return pixel_shuffle_3d(conv->forward(x), options.stride());
}

void UpsampleImpl::pretty_print(std::ostream& stream) const {
  const auto& s = options.stride();
  stream << "medseg::models::Upsample(" << options.in_channels() << ", " << options.out_channels() << ", stride=["
         << s[0] << ", " << s[1] << ", " << s[2] << "], "
         << (options.kind() == UpsampleKind::kPixelShuffle ? "pixel_shuffle" : "transposed_conv") << ")";
}

torch::Tensor pixel_shuffle_3d(const torch::Tensor& x, const std::array<int64_t, 3>& s) {
  const int64_t n = x.size(0), c = x.size(1) / (s[0] * s[1] * s[2]);
  MEDSEG_CHECK(c * s[0] * s[1] * s[2] == x.size(1), "pixel_shuffle_3d: ", x.size(1),
              " channels are not divisible by the stride product ", s[0] * s[1] * s[2]);
  const int64_t d = x.size(2), h = x.size(3), w = x.size(4);
  return x.view({n, c, s[0], s[1], s[2], d, h, w})
      .permute({0, 1, 5, 2, 6, 3, 7, 4})
      .reshape({n, c, d * s[0], h * s[1], w * s[2]});
}

torch::Tensor transposed_to_shuffle_weight(const torch::Tensor& weight) {
  // (C_in, C_out, sd, sh, sw) -> (C_out, sd, sh, sw, C_in) -> (C_out*sd*sh*sw, C_in, 1, 1, 1)
  const int64_t cin = weight.size(0);
  return weight.permute({1, 2, 3, 4, 0}).reshape({-1, cin, 1, 1, 1}).contiguous();
}

torch::Tensor transposed_to_shuffle_bias(const torch::Tensor& bias, const std::array<int64_t, 3>& s) {
  return bias.repeat_interleave(s[0] * s[1] * s[2]);
}

torch::Tensor shuffle_to_transposed_weight(const torch::Tensor& weight, int64_t out_channels,
                                           const std::array<int64_t, 3>& s) {
  const int64_t cin = weight.size(1);
  return weight.reshape({out_channels, s[0], s[1], s[2], cin}).permute({4, 0, 1, 2, 3}).contiguous();
}

}  // namespace medseg::models
