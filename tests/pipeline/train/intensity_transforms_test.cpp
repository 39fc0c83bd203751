// Each intensity transform against a hand computation on a tiny tensor
// (plain loops in double, written from the formulas in the header).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pipeline/train/intensity_transforms.h"

namespace medseg::pipeline::intensity {
namespace {

at::Tensor from(const std::vector<double>& v) {
  return at::tensor(std::vector<float>(v.begin(), v.end()), at::kFloat).view({1, 1, -1});
}

// Mean and standard deviation (n - 1, as torch.std) restored, by hand.
std::vector<double> with_moments_of(const std::vector<double>& y, const std::vector<double>& x) {
  const auto moments = [](const std::vector<double>& v) {
    double m = 0;
    for (double a : v) m += a;
    m /= static_cast<double>(v.size());
    double s = 0;
    for (double a : v) s += (a - m) * (a - m);
    return std::pair<double, double>{m, std::sqrt(s / static_cast<double>(v.size() - 1))};
  };
  const auto [mx, sx] = moments(x);
  const auto [my, sy] = moments(y);
  std::vector<double> out;
  for (double a : y) out.push_back((a - my) * sx / (sy + 1e-8) + mx);
  return out;
}

void expect_values(const at::Tensor& t, const std::vector<double>& expected, double tol = 1e-5) {
  const at::Tensor flat = t.reshape({-1}).to(at::kDouble);
  ASSERT_EQ(flat.numel(), static_cast<std::int64_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[static_cast<std::int64_t>(i)].item<double>(), expected[i], tol) << "value " << i;
  }
}

TEST(IntensityTransforms, GainOffsetAndContrast) {
  at::Tensor x = from({0, 1, 2, 5});
  gain(x, 1.5);
  expect_values(x, {0, 1.5, 3, 7.5});
  offset(x, -0.5);
  expect_values(x, {-0.5, 1, 2.5, 7});
  at::Tensor c = from({0, 1, 3, 4});  // mean 2: 2 + 2 (x - 2), clamped to [0, 4]
  contrast(c, 2.0);
  expect_values(c, {0, 0, 4, 4});
}

TEST(IntensityTransforms, GammaOnTheValueRangeKeepsMeanAndStd) {
  const std::vector<double> v{1, 2, 4, 7};
  for (const bool invert : {false, true}) {
    std::vector<double> in = v;
    if (invert) for (double& a : in) a = -a;
    const double lo = *std::min_element(in.begin(), in.end());
    const double range = *std::max_element(in.begin(), in.end()) - lo + 1e-7;
    std::vector<double> y;
    for (double a : in) y.push_back(lo + std::pow((a - lo) / range, 2.0) * range);
    std::vector<double> expected = with_moments_of(y, in);
    if (invert) for (double& a : expected) a = -a;
    at::Tensor x = from(v);
    gamma(x, 2.0, invert);
    expect_values(x, expected, 1e-4);
  }
}

TEST(IntensityTransforms, PolynomialFieldAndBiasField) {
  const std::array<double, 6> c{0.5, -1.0, 0.25, 1.0, -0.5, 0.75};
  const at::Tensor p = polynomial_log_field({2, 3, 4}, c);
  at::Tensor x = at::arange(24, at::kFloat).view({2, 3, 4}) + 3.0f;  // minimum 3
  at::Tensor biased = x.clone();
  bias_field(biased, c, 0.3);
  for (int d = 0; d < 2; ++d) {
    for (int h = 0; h < 3; ++h) {
      for (int w = 0; w < 4; ++w) {
        const double z = -1.0 + 2.0 * d, y = -1.0 + h, u = -1.0 + 2.0 * w / 3.0;
        const double expected = c[0] * z + c[1] * y + c[2] * u + c[3] * z * y + c[4] * y * u + c[5] * z * u;
        EXPECT_NEAR(p[d][h][w].item<double>(), expected, 1e-5) << d << h << w;
        const double value = x[d][h][w].item<double>();
        EXPECT_NEAR(biased[d][h][w].item<double>(), 3.0 + (value - 3.0) * std::exp(0.3 * expected), 1e-4);
      }
    }
  }
}

TEST(IntensityTransforms, InversionInsideTheBodyKeepsTheBackgroundDark) {
  // lo 0, hi 10: the body is x > 0.5; there x -> 10 - x (w = 1) or the blend.
  const std::vector<double> v{0, 0.4, 1, 2, 10, 6};
  for (const double w : {1.0, 0.75}) {
    std::vector<double> y;
    for (double a : v) y.push_back(a > 0.5 ? (1 - w) * a + w * (10 - a) : a);
    at::Tensor x = from(v);
    invert_body(x, w);
    expect_values(x, with_moments_of(y, v), 1e-4);
  }
  // Full inversion: dark tissue (1) ends brighter than brighter tissue (6),
  // and the background (0) stays darker than both.
  at::Tensor x = from(v);
  invert_body(x, 1.0);
  EXPECT_GT(x[0][0][2].item<double>(), x[0][0][5].item<double>());
  EXPECT_LT(x[0][0][0].item<double>(), x[0][0][5].item<double>());
}

TEST(IntensityTransforms, RemapFollowsThePiecewiseLinearCurve) {
  // Tent through (0, 0), (0.5, 1), (1, 0) on lo 2, hi 10: non-monotone.
  const std::vector<double> v{2, 4, 5, 6, 9, 10};
  std::vector<double> y;
  for (double a : v) {
    const double u = (a - 2) / 8;
    y.push_back(2 + 8 * (u <= 0.5 ? 2 * u : 2 - 2 * u));
  }
  at::Tensor x = from(v);
  remap(x, {0.0, 1.0, 0.0});
  expect_values(x, with_moments_of(y, v), 1e-4);
  // The identity knots change nothing.
  at::Tensor same = from(v);
  remap(same, {0.0, 0.25, 0.5, 0.75, 1.0});
  expect_values(same, v, 1e-4);
}

TEST(IntensityTransforms, BlurIsTheNormalizedGaussianAlongEachAxis) {
  // A unit impulse in the middle of 9 voxels along i (the last tensor dim).
  at::Tensor x = at::zeros({1, 1, 1, 9}, at::kFloat);
  x[0][0][0][4] = 1.0f;
  const at::Tensor y = blur(x, {1.0, 0.0, 0.0});
  std::vector<double> k;
  double sum = 0;
  for (int i = -3; i <= 3; ++i) sum += std::exp(-0.5 * i * i);
  std::vector<double> expected{0};
  for (int i = -3; i <= 3; ++i) expected.push_back(std::exp(-0.5 * i * i) / sum);
  expected.push_back(0);
  expect_values(y, expected);
  // Along k (the first spatial dim) the same profile.
  const at::Tensor z = blur(x.permute({0, 3, 2, 1}).contiguous(), {0.0, 0.0, 1.0});
  expect_values(z, expected);
}

TEST(IntensityTransforms, LowResolutionIsNearestDownThenLinearUp) {
  // 4 voxels at zoom 0.5: nearest keeps voxels 0 and 2 (a, b), linear
  // interpolation back (align_corners false) samples source positions
  // -0.25, 0.25, 0.75, 1.25 (clamped to [0, 1]).
  const at::Tensor x = at::tensor({3.0f, 7.0f, 11.0f, 5.0f}).view({1, 1, 1, 4});
  const double a = 3, b = 11;
  expect_values(low_resolution(x, 0.5), {a, a + 0.25 * (b - a), a + 0.75 * (b - a), b});
}

}  // namespace
}  // namespace medseg::pipeline::intensity
