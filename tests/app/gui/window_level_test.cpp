// Window/level against grey values computed by hand from the documented
// formula grey = clamp(floor((x - (L - W/2)) * 255 / W + 0.5), 0, 255).
#include "app/gui/logic/window_level.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace medseg::gui {
namespace {

TEST(WindowLevel, BrainWindowGreyValuesByHand) {
  const WindowLevel w(80, 40);  // lower 0 HU, upper 80 HU, 255/80 = 3.1875 per HU
  EXPECT_DOUBLE_EQ(w.lower(), 0.0);
  EXPECT_DOUBLE_EQ(w.upper(), 80.0);
  EXPECT_EQ(w.grey(-1000.0f), 0);
  EXPECT_EQ(w.grey(0.0f), 0);      // 0 + 0.5 -> 0
  EXPECT_EQ(w.grey(1.0f), 3);      // 3.1875 + 0.5 = 3.69 -> 3
  EXPECT_EQ(w.grey(10.0f), 32);    // 31.875 + 0.5 = 32.375 -> 32
  EXPECT_EQ(w.grey(20.0f), 64);    // 63.75 + 0.5 = 64.25 -> 64
  EXPECT_EQ(w.grey(40.0f), 128);   // the level: 127.5 + 0.5 = 128
  EXPECT_EQ(w.grey(79.0f), 252);   // 251.8125 + 0.5 = 252.31 -> 252
  EXPECT_EQ(w.grey(80.0f), 255);
  EXPECT_EQ(w.grey(3000.0f), 255);
  EXPECT_EQ(w.grey(std::numeric_limits<float>::quiet_NaN()), 0);
}

TEST(WindowLevel, LungWindowGreyValuesByHand) {
  const WindowLevel w(1500, -600);  // lower -1350 HU, 0.17 grey per HU
  EXPECT_DOUBLE_EQ(w.lower(), -1350.0);
  EXPECT_EQ(w.grey(-1234.0f), 20);   // 116 * 0.17 = 19.72 + 0.5 -> 20
  EXPECT_EQ(w.grey(-611.0f), 126);   // 739 * 0.17 = 125.63 + 0.5 = 126.13 -> 126
  EXPECT_EQ(w.grey(123.0f), 250);    // 1473 * 0.17 = 250.41 + 0.5 -> 250
  EXPECT_EQ(w.grey(-1400.0f), 0);
  EXPECT_EQ(w.grey(200.0f), 255);
}

TEST(WindowLevel, MapMatchesHandValuesAcrossVectorTails) {
  // 37 values: the vectorized loop's main part and its remainder.
  const WindowLevel w(80, 40);
  std::vector<float> in;
  std::vector<std::uint8_t> expected;
  const float xs[] = {-5, 0, 1, 10, 20, 40, 79, 80, 100};
  const std::uint8_t gs[] = {0, 0, 3, 32, 64, 128, 252, 255, 255};
  for (int n = 0; n < 37; ++n) {
    in.push_back(xs[n % 9]);
    expected.push_back(gs[n % 9]);
  }
  std::vector<std::uint8_t> out(in.size(), 77);
  w.map(in.data(), static_cast<std::int64_t>(in.size()), out.data());
  EXPECT_EQ(out, expected);
}

TEST(WindowLevel, RefusesNonPositiveOrNonFiniteWidth) {
  EXPECT_THROW(WindowLevel(0, 40), ConfigError);
  EXPECT_THROW(WindowLevel(-10, 40), ConfigError);
  EXPECT_THROW(WindowLevel(std::nan(""), 40), ConfigError);
  EXPECT_THROW(WindowLevel(80, std::numeric_limits<double>::infinity()), ConfigError);
  EXPECT_NO_THROW(WindowLevel(0.01, 0.5));  // float MRI data may need tiny widths
}

TEST(WindowLevel, CtPresetsHaveTheDocumentedNumbers) {
  const auto& p = ct_window_presets();
  ASSERT_EQ(p.size(), 5u);
  const struct {
    const char* name;
    double width, level;
  } expected[] = {{"brain", 80, 40}, {"subdural", 200, 75}, {"soft tissue", 400, 40},
                  {"bone", 1800, 400}, {"lung", 1500, -600}};
  for (std::size_t n = 0; n < 5; ++n) {
    EXPECT_EQ(p[n].name, expected[n].name);
    EXPECT_EQ(p[n].width, expected[n].width) << p[n].name;
    EXPECT_EQ(p[n].level, expected[n].level) << p[n].name;
  }
  EXPECT_EQ(ct_window_preset("bone").window(), WindowLevel(1800, 400));
  EXPECT_THROW(ct_window_preset("liver"), ConfigError);
}

TEST(WindowLevel, AutoWindowUsesThePercentilesExactlyOnSmallVolumes) {
  // Values 0..999 in scrambled order. numpy.percentile (linear): rank
  // 0.005 * 999 = 4.995 -> 4.995; rank 0.995 * 999 = 994.005 -> 994.005.
  at::manual_seed(7);
  const at::Tensor values = at::randperm(1000, at::kLong).to(at::kFloat).view({10, 10, 10});
  const WindowLevel w = auto_window(values);
  EXPECT_NEAR(w.lower(), 4.995, 1e-4);
  EXPECT_NEAR(w.upper(), 994.005, 1e-4);
  EXPECT_NEAR(w.level(), 499.5, 1e-4);
  EXPECT_NEAR(w.width(), 989.01, 1e-4);
}

TEST(WindowLevel, AutoWindowSamplesLargeVolumesClosely) {
  // 4 Mi voxels of 0..999 in random order; at most 2^18 samples.
  at::manual_seed(8);
  const at::Tensor values = at::randint(0, 1000, {64, 256, 256}, at::kLong).to(at::kFloat);
  const WindowLevel w = auto_window(values, 1 << 18);
  EXPECT_NEAR(w.lower(), 5.0, 2.0);
  EXPECT_NEAR(w.upper(), 994.0, 2.0);
}

TEST(WindowLevel, AutoWindowSkipsNanAndHandlesConstantVolumes) {
  at::Tensor values = at::arange(1000, at::kFloat).view({10, 10, 10}).clone();
  values.view({-1}).slice(0, 0, 100).fill_(std::numeric_limits<float>::quiet_NaN());
  // Finite values 100..999 (900 of them): ranks 0.005 * 899 = 4.495 and
  // 0.995 * 899 = 894.505 -> 104.495 and 994.505.
  const WindowLevel w = auto_window(values);
  EXPECT_NEAR(w.lower(), 104.495, 1e-4);
  EXPECT_NEAR(w.upper(), 994.505, 1e-4);
  const WindowLevel c = auto_window(at::full({3, 3, 3}, 42.0f));
  EXPECT_DOUBLE_EQ(c.width(), 1.0);
  EXPECT_DOUBLE_EQ(c.level(), 42.0);
  EXPECT_THROW(auto_window(at::empty({0, 3, 3}, at::kFloat)), ConfigError);
}

}  // namespace
}  // namespace medseg::gui
