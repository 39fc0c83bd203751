#include "pipeline/preprocess/normalize.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

Volume volume_of(std::vector<float> values) {
  Volume v;
  const auto n = static_cast<std::int64_t>(values.size());
  v.geometry.size = {n, 1, 1};
  v.data = at::tensor(values).reshape({1, 1, n});
  return v;
}

std::vector<float> values_of(const Volume& v) {
  const at::Tensor flat = v.data.reshape({-1}).contiguous();
  return {flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()};
}

TEST(Percentile, MatchesNumpyLinearInterpolation) {
  // numpy.percentile([1, 2, 3, 4], q): 50 -> 2.5, 25 -> 1.75, 100 -> 4.
  const at::Tensor v = at::tensor({4.0f, 1.0f, 3.0f, 2.0f});
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 1.75);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4.0);
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  // 1..200: rank 0.005 * 199 = 0.995 -> 1 + 0.995.
  EXPECT_NEAR(percentile(at::arange(1, 201, at::kFloat), 0.5), 1.995, 1e-6);
}

TEST(Normalize, ZscoreByHand) {
  // values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population std 2.
  NormalizationRecipe zscore;
  zscore.kind = NormalizationKind::kZscore;
  const Volume out = Normalize(zscore)(volume_of({2, 4, 4, 4, 5, 5, 7, 9}));
  const std::vector<float> expected{-1.5f, -0.5f, -0.5f, -0.5f, 0.0f, 0.0f, 1.0f, 2.0f};
  const auto got = values_of(out);
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << i;
}

TEST(Normalize, ZscoreInsideNonzeroMaskLeavesBackgroundZero) {
  NormalizationRecipe r;
  r.kind = NormalizationKind::kZscore;
  r.use_nonzero_mask = true;
  // Nonzero values 1, 3: mean 2, std 1; zeros stay 0.
  const auto got = values_of(Normalize(r)(volume_of({0, 1, 0, 3})));
  EXPECT_FLOAT_EQ(got[0], 0.0f);
  EXPECT_FLOAT_EQ(got[1], -1.0f);
  EXPECT_FLOAT_EQ(got[2], 0.0f);
  EXPECT_FLOAT_EQ(got[3], 1.0f);
}

TEST(Normalize, CtClipsToDatasetPercentilesThenUsesDatasetMoments) {
  NormalizationRecipe r;
  r.kind = NormalizationKind::kCt;
  r.stats.percentile_00_5 = -100;
  r.stats.percentile_99_5 = 300;
  r.stats.mean = 50;
  r.stats.std = 25;
  // -1000 -> clip -100 -> (-150)/25 = -6; 100 -> 2; 2000 -> 300 -> 10.
  const auto got = values_of(Normalize(r)(volume_of({-1000, 100, 2000})));
  EXPECT_FLOAT_EQ(got[0], -6.0f);
  EXPECT_FLOAT_EQ(got[1], 2.0f);
  EXPECT_FLOAT_EQ(got[2], 10.0f);
}

TEST(Normalize, WindowMapsToUnitRange) {
  NormalizationRecipe r;
  r.kind = NormalizationKind::kWindow;
  r.window_low = -160;
  r.window_high = 240;
  // (-1000 clip -160) -> 0; 40 -> 200/400 = 0.5; 1000 -> 1.
  const auto got = values_of(Normalize(r)(volume_of({-1000, 40, 1000})));
  EXPECT_FLOAT_EQ(got[0], 0.0f);
  EXPECT_FLOAT_EQ(got[1], 0.5f);
  EXPECT_FLOAT_EQ(got[2], 1.0f);
}

TEST(Normalize, PercentileUsesThisVolumesPercentiles) {
  NormalizationRecipe r;
  r.kind = NormalizationKind::kPercentile;
  r.percentile_low = 25;
  r.percentile_high = 75;
  // 0, 10, 20, 30, 40: p25 = 10, p75 = 30 -> 0 -> 0, 20 -> 0.5, 40 -> 1.
  const auto got = values_of(Normalize(r)(volume_of({0, 10, 20, 30, 40})));
  EXPECT_FLOAT_EQ(got[0], 0.0f);
  EXPECT_FLOAT_EQ(got[1], 0.0f);
  EXPECT_FLOAT_EQ(got[2], 0.5f);
  EXPECT_FLOAT_EQ(got[4], 1.0f);
}

TEST(Normalize, InvalidRecipesAreConfigErrors) {
  EXPECT_THROW(parse_normalization_kind("minmax"), ConfigError);
  NormalizationRecipe w;
  w.kind = NormalizationKind::kWindow;
  w.window_low = 5;
  w.window_high = 5;
  EXPECT_THROW(Normalize{w}, ConfigError);
}

TEST(IntensityStats, ByHand) {
  const IntensityStats s = intensity_stats(at::tensor({2.0f, 4.0f, 4.0f, 4.0f, 5.0f, 5.0f, 7.0f, 9.0f}));
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.std, 2.0, 1e-6);
  EXPECT_DOUBLE_EQ(s.min, 2.0);
  EXPECT_DOUBLE_EQ(s.max, 9.0);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  // rank 0.005 * 7 = 0.035 -> 2 + 0.035 * 2.
  EXPECT_NEAR(s.percentile_00_5, 2.07, 1e-9);
}

}  // namespace
}  // namespace medseg::pipeline
