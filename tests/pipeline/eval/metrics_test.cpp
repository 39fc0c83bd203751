#include "pipeline/eval/metrics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "models/error.h"

namespace medseg::pipeline {
namespace {

at::Tensor box(std::array<std::int64_t, 3> lo, std::array<std::int64_t, 3> hi, std::int64_t n = 14) {
  at::Tensor m = at::zeros({n, n, n}, at::kBool);
  m.slice(0, lo[2], hi[2]).slice(1, lo[1], hi[1]).slice(2, lo[0], hi[0]).fill_(true);
  return m;
}

// Independent reference: loops over voxels, 6-neighbour surface, brute-force
// nearest surface voxel in mm.
std::vector<std::array<double, 3>> brute_surface(const at::Tensor& m, const std::array<double, 3>& sp) {
  std::vector<std::array<double, 3>> pts;
  const auto a = m.accessor<bool, 3>();
  const std::int64_t d = m.size(0), h = m.size(1), w = m.size(2);
  for (std::int64_t k = 0; k < d; ++k)
    for (std::int64_t j = 0; j < h; ++j)
      for (std::int64_t i = 0; i < w; ++i) {
        if (!a[k][j][i]) continue;
        const bool edge = k == 0 || j == 0 || i == 0 || k == d - 1 || j == h - 1 || i == w - 1 || !a[k - 1][j][i] ||
                          !a[k + 1][j][i] || !a[k][j - 1][i] || !a[k][j + 1][i] || !a[k][j][i - 1] || !a[k][j][i + 1];
        if (edge) pts.push_back({i * sp[0], j * sp[1], k * sp[2]});
      }
  return pts;
}

std::vector<double> brute_distances(const at::Tensor& from, const at::Tensor& to, const std::array<double, 3>& sp) {
  const auto a = brute_surface(from, sp), b = brute_surface(to, sp);
  std::vector<double> out;
  for (const auto& p : a) {
    double best = std::numeric_limits<double>::infinity();
    for (const auto& q : b) {
      best = std::min(best, std::sqrt(std::pow(p[0] - q[0], 2) + std::pow(p[1] - q[1], 2) + std::pow(p[2] - q[2], 2)));
    }
    out.push_back(best);
  }
  return out;
}

TEST(Metrics, OffsetBoxesByHand) {
  // A = [2, 8)^3, B = A shifted by 2 voxels along i: overlap 4 x 6 x 6.
  const at::Tensor a = box({2, 2, 2}, {8, 8, 8}), b = box({4, 2, 2}, {10, 8, 8});
  const LabelMetrics m = compare_masks(a, b, {2.0, 1.0, 1.0});
  EXPECT_NEAR(m.dice, 2.0 * 144 / 432, 1e-12);
  EXPECT_NEAR(m.iou, 144.0 / 288, 1e-12);
  EXPECT_NEAR(m.volume_pred_ml, 216 * 2.0 / 1000, 1e-12);
  EXPECT_NEAR(m.volume_difference_ml, 0.0, 1e-12);
  // Surfaces: the i-faces are 2 voxels = 4 mm from the other box's i-face
  // (face voxels lie on the other's side face region); most shared faces
  // coincide. Checked against brute force below; here the extremes:
  EXPECT_GT(m.hd95_mm, 0.0);
  EXPECT_LE(m.hd95_mm, 4.0 + 1e-9);
}

TEST(Metrics, IdenticalMasksArePerfect) {
  const at::Tensor a = box({3, 1, 2}, {9, 7, 12});
  const LabelMetrics m = compare_masks(a, a, {0.7, 0.7, 2.5});
  EXPECT_DOUBLE_EQ(m.dice, 1.0);
  EXPECT_DOUBLE_EQ(m.hd95_mm, 0.0);
  EXPECT_DOUBLE_EQ(m.mean_surface_distance_mm, 0.0);
  EXPECT_DOUBLE_EQ(m.surface_dice, 1.0);
}

TEST(Metrics, SurfaceDistancesMatchBruteForceWithAnisotropicSpacing) {
  at::manual_seed(3);
  // Two blobby masks: thresholded smoothed noise.
  const auto blob = [](double t) {
    at::Tensor x = at::randn({1, 1, 12, 13, 14});
    x = at::avg_pool3d(x, 5, 1, 2);
    return (x.squeeze() > t);
  };
  const at::Tensor a = blob(0.05), b = blob(0.0);
  const std::array<double, 3> sp{0.8, 1.3, 2.1};
  const at::Tensor d = surface_distances(a, b, sp);
  const auto ref = brute_distances(a, b, sp);
  ASSERT_EQ(d.numel(), static_cast<std::int64_t>(ref.size()));
  for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(d[static_cast<std::int64_t>(i)].item<double>(), ref[i], 1e-4) << i;

  // HD95, MSD and NSD from the brute-force distances.
  const auto back = brute_distances(b, a, sp);
  std::vector<double> all(ref);
  all.insert(all.end(), back.begin(), back.end());
  double sum = 0;
  std::int64_t within = 0;
  for (double v : all) {
    sum += v;
    within += v <= 1.5;
  }
  MetricOptions o;
  o.surface_dice_tolerance_mm = 1.5;
  const LabelMetrics m = compare_masks(a, b, sp, o);
  EXPECT_NEAR(m.mean_surface_distance_mm, sum / static_cast<double>(all.size()), 1e-4);
  EXPECT_NEAR(m.surface_dice, static_cast<double>(within) / static_cast<double>(all.size()), 1e-9);
  auto p95 = [](std::vector<double> v) {  // numpy's linear percentile
    std::sort(v.begin(), v.end());
    const double r = 0.95 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(r));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (r - static_cast<double>(lo));
  };
  EXPECT_NEAR(m.hd95_mm, std::max(p95(ref), p95(back)), 1e-4);
}

TEST(Metrics, EmptyMasks) {
  const at::Tensor empty = at::zeros({6, 6, 6}, at::kBool), full = box({1, 1, 1}, {4, 4, 4}, 6);
  const LabelMetrics both = compare_masks(empty, empty, {1, 1, 1});
  EXPECT_TRUE(std::isnan(both.dice));
  const LabelMetrics one = compare_masks(empty, full, {1, 1, 1});
  EXPECT_DOUBLE_EQ(one.dice, 0.0);
  EXPECT_TRUE(std::isinf(one.hd95_mm));
  EXPECT_DOUBLE_EQ(one.surface_dice, 0.0);
}

TEST(Metrics, LabelMapsWithDifferentGridsAreRefused) {
  Volume a, b;
  a.geometry.size = b.geometry.size = {4, 4, 4};
  a.data = b.data = at::zeros({4, 4, 4});
  b.geometry.spacing[0] = 2.0;
  a.source_path = "pred.nii.gz";
  b.source_path = "ref.nii.gz";
  EXPECT_THROW(compare_label_maps(a, b, {1}), IoError);
}

}  // namespace
}  // namespace medseg::pipeline
