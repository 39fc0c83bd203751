#include "pipeline/preprocess/resample.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace medseg::pipeline {
namespace {

Volume ramp_volume() {
  Volume v;
  v.geometry.size = {8, 6, 4};
  v.geometry.spacing = {1.0, 1.0, 1.0};
  v.geometry.origin = {5.0, -3.0, 2.0};
  // value = x index: linear interpolation must reproduce it exactly.
  v.data = at::arange(8, at::kFloat).view({1, 1, 8}).expand({4, 6, 8}).contiguous();
  return v;
}

TEST(GridWithSpacing, KeepsFieldOfViewCorners) {
  Geometry g;
  g.size = {181, 217, 181};
  g.spacing = {1, 1, 1};
  g.origin = {90, 125, -71};
  g.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  const Geometry out = grid_with_spacing(g, {2, 2, 2});
  EXPECT_EQ(out.size, (std::array<std::int64_t, 3>{91, 109, 91}));
  // 181 mm -> 91 voxels of 2 mm = 182 mm, centred: first centre stays at
  // old first corner - 0.5 mm + 1 mm = old first centre.
  EXPECT_NEAR(out.origin[0], 90.0, 1e-9);
  EXPECT_NEAR(out.origin[2], -71.0, 1e-9);
  // 217 mm -> 109 voxels = 218 mm: same reasoning along y.
  EXPECT_NEAR(out.origin[1], 125.0, 1e-9);
}

TEST(GridWithSpacing, HalvingSpacingShiftsOriginByAQuarterVoxel) {
  Geometry g;
  g.size = {4, 4, 4};
  g.spacing = {2, 2, 2};
  const Geometry out = grid_with_spacing(g, {1, 1, 1});
  EXPECT_EQ(out.size, (std::array<std::int64_t, 3>{8, 8, 8}));
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(out.origin[d], -0.5, 1e-12);  // corner -1, centre -0.5
}

TEST(Resample, IdentityGridReturnsTheSameVoxels) {
  const Volume v = ramp_volume();
  for (auto interp : {Interpolation::kNearest, Interpolation::kLinear, Interpolation::kBSpline}) {
    const Volume out = resample(v, v.geometry, interp);
    EXPECT_TRUE(at::allclose(out.data, v.data, 1e-5, 1e-4));
  }
}

TEST(Resample, LinearInterpolationOfARampIsExactAtHalfVoxels) {
  const Volume v = ramp_volume();
  Geometry target = v.geometry;
  target.size = {5, 6, 4};
  target.origin[0] += 0.5;  // voxel centres at x index 0.5, 1.5, ...
  const Volume out = resample(v, target, Interpolation::kLinear);
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(out.data[1][2][i].item<float>(), 0.5f + i);
}

TEST(ResampleLabels, IdentityGridKeepsLabels) {
  Volume labels = ramp_volume();
  labels.data = (labels.data / 3).floor();  // labels 0, 1, 2
  const Volume out = resample_labels(labels, labels.geometry);
  EXPECT_TRUE(at::equal(out.data, labels.data));
}

TEST(ResampleLabels, NeverInventsIntermediateLabels) {
  Volume labels = ramp_volume();
  labels.data = at::where(labels.data < 4, at::zeros_like(labels.data), at::full_like(labels.data, 2));
  Geometry target = labels.geometry;
  target.origin[0] += 0.5;
  target.size[0] = 7;
  const Volume out = resample_labels(labels, target);
  // Between 0 and 2 plain linear interpolation would give 1.
  EXPECT_EQ(std::get<0>(at::_unique(out.data)).numel(), 2) << out.data[0][0];
}

}  // namespace
}  // namespace medseg::pipeline
