#include "pipeline/infer/body_mask.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace medseg::pipeline {
namespace {

TEST(BodyMask, CtAirAtTheClipFloorIsBackgroundAndRoundingIsTolerated) {
  // A normalized CT: air clipped to the floor -0.94, resampling rounding a
  // few ulps above it, tissue above.
  at::Tensor image = at::full({1, 4, 5, 6}, -0.94f);
  image[0][0][0][0] = -0.94f + 1e-6f;
  image[0][1][2][3] = -0.5f;
  image[0][3][4][5] = 2.0f;
  const BodyMask body = body_mask(image);
  EXPECT_FLOAT_EQ(body.background[0].item<float>(), -0.94f);
  EXPECT_EQ(body.mask.sizes(), (at::IntArrayRef{4, 5, 6}));
  EXPECT_EQ(body.mask.sum().item<std::int64_t>(), 2);
  EXPECT_TRUE(body.mask[1][2][3].item<bool>());
  EXPECT_TRUE(body.mask[3][4][5].item<bool>());
}

TEST(BodyMask, AVoxelIsBodyWhenAnyChannelIsAboveItsOwnBackground) {
  at::Tensor image = at::zeros({2, 3, 3, 3});
  image[0].fill_(-1.2f);
  image[0][0][0][0] = 0.0f;  // channel 0 only
  image[1][2][2][2] = 0.5f;  // channel 1 only
  const BodyMask body = body_mask(image);
  EXPECT_TRUE(at::equal(body.background, at::tensor({-1.2f, 0.0f})));
  EXPECT_EQ(body.mask.sum().item<std::int64_t>(), 2);
  EXPECT_TRUE(body.mask[0][0][0].item<bool>());
  EXPECT_TRUE(body.mask[2][2][2].item<bool>());
}

}  // namespace
}  // namespace medseg::pipeline
