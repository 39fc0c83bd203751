#include "models/direct_conv_oc8.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;

/// (N, C, D, H, W) -> oneDNN's nCdhw8c: (N, C/8, D, H, W, 8).
torch::Tensor to_blocked(const torch::Tensor& x) {
  return x.view({x.size(0), x.size(1) / 8, 8, x.size(2), x.size(3), x.size(4)}).permute({0, 1, 3, 4, 5, 2}).contiguous();
}

/// The kernel's output (N, D, H, W, 8) as (N, 8, D, H, W).
torch::Tensor from_blocked(const torch::Tensor& y) { return y.permute({0, 4, 1, 2, 3}).contiguous(); }

torch::Tensor run_direct(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, float slope) {
  const torch::Tensor in = to_blocked(x);
  const std::vector<float> packed = pack_direct_conv_oc8_weights(weight.contiguous().data_ptr<float>(), x.size(1));
  torch::Tensor out = torch::full({x.size(0), x.size(2), x.size(3), x.size(4), 8}, std::nanf(""));
  DirectConvOc8Args a;
  a.input = in.data_ptr<float>();
  a.batch = x.size(0), a.in_channels = x.size(1), a.depth = x.size(2), a.height = x.size(3), a.width = x.size(4);
  a.block_stride = a.depth * a.height * a.width * 8;
  a.batch_stride = a.in_channels / 8 * a.block_stride;
  a.weights = packed.data();
  a.bias = bias.data_ptr<float>();
  a.negative_slope = slope;
  a.output = out.data_ptr<float>();
  direct_conv_oc8(a);
  return from_blocked(out);
}

// Against LibTorch's own Conv3d + LeakyReLU: widths that exercise the
// 12-voxel blocks, every shorter tail, both x borders, a row of one voxel,
// and the zero padding in z and y.
TEST(DirectConvOc8, MatchesTorchConv3dAndLeakyRelu) {
  ASSERT_TRUE(direct_conv_oc8_available()) << "the project's machines all have AVX2 and FMA";
  torch::manual_seed(3);
  for (const int64_t channels : {8, 16, 24}) {
    for (const int64_t width : {1, 2, 3, 13, 14, 25, 37}) {
      SCOPED_TRACE("in channels " + std::to_string(channels) + ", width " + std::to_string(width));
      const torch::Tensor x = torch::randn({2, channels, 3, 4, width});
      const torch::Tensor w = torch::randn({8, channels, 3, 3, 3}) * 0.2;
      const torch::Tensor b = torch::randn({8});
      const float slope = 0.01f;
      const torch::Tensor expected =
          torch::leaky_relu(torch::conv3d(x, w, b, /*stride=*/1, /*padding=*/1), slope);
      const torch::Tensor out = run_direct(x, w, b, slope);
      EXPECT_TRUE(all_close(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max().item<double>();
    }
  }
}

TEST(DirectConvOc8, RefusesChannelsNotInBlocksOfEight) {
  DirectConvOc8Args a;
  a.in_channels = 12;
  EXPECT_ANY_THROW(direct_conv_oc8(a));
}

TEST(DirectConvOc8, PacksWeightsTapMajorThenInputThenOutput) {
  const torch::Tensor w = torch::arange(8 * 16 * 27, torch::kFloat).view({8, 16, 3, 3, 3});
  const std::vector<float> packed = pack_direct_conv_oc8_weights(w.data_ptr<float>(), 16);
  // tap (kd 1, kh 2, kw 0) = 15, input channel 5, output 3
  EXPECT_EQ(packed[(15 * 16 + 5) * 8 + 3], w.index({3, 5, 1, 2, 0}).item<float>());
}

}  // namespace
}  // namespace medseg::models
