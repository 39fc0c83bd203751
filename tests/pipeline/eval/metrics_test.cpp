#include "pipeline/eval/metrics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

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
  // Surface distances by hand (spacing 2 mm along i, 1 mm along j and k).
  // Each box has 6^3 - 4^3 = 152 surface voxels (a coordinate at 2 or 7 for
  // A; i at 4 or 9, or j or k at 2 or 7 for B). From A to B:
  //  - on a j or k face of A with i in 4..7: on B's surface too      80 x 0 mm
  //  - on a j or k face of A with i = 3: B's face voxel at i = 4     20 x 2 mm
  //  - on a j or k face of A with i = 2: B's face voxel at i = 4     20 x 4 mm
  //  - i = 2, j and k in 3..6: B's i = 4 face                        16 x 4 mm
  //  - i = 7, j and k in 3..6: inside B, nearest B face along j or k
  //    is 1 voxel away (j or k in {3, 6})                            12 x 1 mm
  //    or 2 voxels away (j and k in {4, 5})                           4 x 2 mm
  //    (B's i faces are 2 or 3 voxels = 4 or 6 mm away).
  // 80 + 20 + 20 + 16 + 12 + 4 = 152 distances summing to 40 + 80 + 64 + 12
  // + 8 = 204 mm; B to A mirrors it. Sorted, the 152 directed distances are
  // 80 x 0, 12 x 1, 24 x 2, 36 x 4: numpy's 95th percentile sits at rank
  // 0.95 * 151 = 143.45, among the 4s (ranks 116..151), in both directions.
  EXPECT_NEAR(m.hd95_mm, 4.0, 1e-9);
  EXPECT_NEAR(m.mean_surface_distance_mm, (204.0 + 204.0) / (152 + 152), 1e-9);  // = 204 / 152
  // Within the default 1 mm tolerance: 80 + 12 = 92 of 152 each way.
  EXPECT_NEAR(m.surface_dice, 92.0 / 152, 1e-9);
  // The brute-force reference agrees with the hand count.
  const auto ab = brute_distances(a, b, {2.0, 1.0, 1.0});
  ASSERT_EQ(ab.size(), 152u);
  double sum = 0;
  for (double v : ab) sum += v;
  EXPECT_NEAR(sum, 204.0, 1e-9);
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
