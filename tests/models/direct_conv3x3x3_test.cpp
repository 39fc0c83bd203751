#include "models/direct_conv3x3x3.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;

/// (N, C, D, H, W) -> oneDNN's nCdhw8c (N, C/8, D, H, W, 8); one channel
/// stays plain, as the kernel reads it.
torch::Tensor to_blocked(const torch::Tensor& x) {
  if (x.size(1) == 1) return x.contiguous();
  return x.view({x.size(0), x.size(1) / 8, 8, x.size(2), x.size(3), x.size(4)}).permute({0, 1, 3, 4, 5, 2}).contiguous();
}

/// nCdhw8c (N, C/8, D, H, W, 8) -> (N, C, D, H, W).
torch::Tensor from_blocked(const torch::Tensor& y) {
  return y.permute({0, 1, 5, 2, 3, 4}).reshape({y.size(0), y.size(1) * 8, y.size(2), y.size(3), y.size(4)});
}

torch::Tensor run_direct(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, float slope,
                         bool bf16_output = false) {
  const int64_t in_channels = x.size(1), out_channels = weight.size(0);
  const torch::Tensor in = to_blocked(x);
  const std::vector<float> packed =
      pack_direct_conv_weights(weight.contiguous().data_ptr<float>(), out_channels, in_channels);
  torch::Tensor out = torch::full({x.size(0), out_channels / 8, x.size(2), x.size(3), x.size(4), 8}, std::nanf(""),
                                  bf16_output ? torch::kBFloat16 : torch::kFloat);
  DirectConvArgs a;
  a.input = in.data_ptr<float>();
  a.batch = x.size(0), a.in_channels = in_channels, a.out_channels = out_channels;
  a.depth = x.size(2), a.height = x.size(3), a.width = x.size(4);
  a.block_stride = a.depth * a.height * a.width * (in_channels == 1 ? 1 : 8);
  a.batch_stride = (in_channels == 1 ? 1 : in_channels / 8) * a.block_stride;
  a.weights = packed.data();
  a.bias = bias.data_ptr<float>();
  a.negative_slope = slope;
  a.output = out.data_ptr();
  a.bf16_output = bf16_output;
  direct_conv(a);
  return from_blocked(out).to(torch::kFloat);
}

// Against LibTorch's own Conv3d + LeakyReLU: every channel count the kernel
// takes, widths that exercise its full blocks (12 voxels for 8 outputs, 6 for
// 16), every shorter tail, both x borders and a row of one voxel, and the
// zero padding in z and y.
TEST(DirectConv3x3x3, MatchesTorchConv3dAndLeakyRelu) {
  ASSERT_TRUE(direct_conv_available()) << "the project's machines all have AVX2 and FMA";
  torch::manual_seed(3);
  for (const int64_t out_channels : {8, 16}) {
    for (const int64_t in_channels : {1, 8, 16, 24}) {
      for (const int64_t width : {1, 2, 3, 7, 13, 14, 25, 37}) {
        SCOPED_TRACE(std::to_string(in_channels) + " -> " + std::to_string(out_channels) + " channels, width " +
                     std::to_string(width));
        const torch::Tensor x = torch::randn({2, in_channels, 3, 4, width});
        const torch::Tensor w = torch::randn({out_channels, in_channels, 3, 3, 3}) * 0.2;
        const torch::Tensor b = torch::randn({out_channels});
        const float slope = 0.01f;
        const torch::Tensor expected = torch::leaky_relu(torch::conv3d(x, w, b, /*stride=*/1, /*padding=*/1), slope);
        const torch::Tensor out = run_direct(x, w, b, slope);
        EXPECT_TRUE(all_close(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max().item<double>();
      }
    }
  }
}

// bf16 output (a bf16 network's first layer): the identity filter passes the
// input through, so the kernel's rounding must be LibTorch's own
// float -> bfloat16 conversion (to nearest, ties to even), value for value,
// including exact ties and values that round up across a power of two.
TEST(DirectConv3x3x3, Bf16OutputRoundsAsLibTorch) {
  ASSERT_TRUE(direct_conv_available());
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({1, 1, 2, 3, 40}) * 3;
  // Ties: bfloat16 keeps the top 16 bits, so 1 + 2^-8 lies halfway between
  // 1 and 1 + 2^-7 (ties to 1, the even one), 1 + 3 * 2^-8 halfway between
  // 1 + 2^-7 and 1 + 2^-6 (ties up); 2 - 2^-9 rounds up to 2.
  const std::vector<float> special{1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 2.0f - 1.0f / 512, -(1.0f + 1.0f / 256)};
  for (size_t i = 0; i < special.size(); ++i) x.view({-1})[static_cast<int64_t>(i) * 7] = special[i];
  torch::Tensor w = torch::zeros({8, 1, 3, 3, 3});
  w.index_put_({torch::indexing::Slice(), 0, 1, 1, 1}, 1.0f);  // centre tap: out = in on every channel
  const torch::Tensor b = torch::zeros({8});
  const torch::Tensor out = run_direct(x, w, b, /*slope=*/1.0f, /*bf16_output=*/true);
  const torch::Tensor expected = x.to(torch::kBFloat16).to(torch::kFloat).expand({1, 8, 2, 3, 40});
  EXPECT_TRUE(torch::equal(out, expected));
  EXPECT_EQ(out.reshape({-1})[0].item<float>(), 1.0f);  // the first special value: a tie, to even
}

// A real layer with bf16 output: within bf16 rounding of LibTorch's fp32
// result, and every value a bf16 number.
TEST(DirectConv3x3x3, Bf16OutputStaysWithinBf16Rounding) {
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({2, 1, 4, 5, 19});
  const torch::Tensor w = torch::randn({8, 1, 3, 3, 3}) * 0.3;
  const torch::Tensor b = torch::randn({8});
  const torch::Tensor expected = torch::leaky_relu(torch::conv3d(x, w, b, 1, 1), 0.01);
  const torch::Tensor out = run_direct(x, w, b, 0.01f, /*bf16_output=*/true);
  EXPECT_TRUE(all_close(out, expected, 1.0 / 128, 1e-6)) << (out - expected).abs().max().item<double>();
  EXPECT_TRUE(torch::equal(out, out.to(torch::kBFloat16).to(torch::kFloat)));
  EXPECT_FALSE(torch::equal(out, expected));  // it did round
}

TEST(DirectConv3x3x3, RefusesLayersItDoesNotCompute) {
  EXPECT_TRUE(direct_conv_fits(1, 8));
  EXPECT_TRUE(direct_conv_fits(32, 16));
  EXPECT_FALSE(direct_conv_fits(12, 8));  // not in blocks of 8
  EXPECT_FALSE(direct_conv_fits(2, 8));
  EXPECT_FALSE(direct_conv_fits(16, 32));
  DirectConvArgs a;
  a.in_channels = 12, a.out_channels = 8;
  EXPECT_ANY_THROW(direct_conv(a));
}

TEST(DirectConv3x3x3, PacksWeightsTapMajorThenInputThenOutput) {
  const torch::Tensor w = torch::arange(16 * 8 * 27, torch::kFloat).view({16, 8, 3, 3, 3});
  const std::vector<float> packed = pack_direct_conv_weights(w.data_ptr<float>(), 16, 8);
  // tap (kd 1, kh 2, kw 0) = 15, input channel 5, output 11
  EXPECT_EQ(packed[(15 * 8 + 5) * 16 + 11], w.index({11, 5, 1, 2, 0}).item<float>());
}

}  // namespace
}  // namespace medseg::models
