#include "pipeline/infer/sliding_window.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

TEST(WindowStarts, EvenlySpreadWithRequestedOverlap) {
  // 100 voxels, 64-voxel patches, 50 %: step <= 32 -> ceil(36 / 32) + 1 = 3
  // windows, actual step 18.
  EXPECT_EQ(window_starts(100, 64, 0.5), (std::vector<std::int64_t>{0, 18, 36}));
  EXPECT_EQ(window_starts(64, 64, 0.5), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(window_starts(50, 64, 0.5), (std::vector<std::int64_t>{0}));
  // No overlap: ceil(136 / 64) + 1 = 4 windows, step 45.33.
  EXPECT_EQ(window_starts(200, 64, 0.0), (std::vector<std::int64_t>{0, 45, 91, 136}));
  EXPECT_THROW(window_starts(10, 4, 1.0), ConfigError);
}

TEST(GaussianWeights, PeakAtCentreAndSigmaIsAnEighthOfThePatch) {
  const at::Tensor w = gaussian_weights_1d(64);
  EXPECT_FLOAT_EQ(w[32].item<float>(), 1.0f);
  EXPECT_NEAR(w[32 + 8].item<float>(), std::exp(-0.5), 1e-6);  // sigma = 64 / 8
  EXPECT_FLOAT_EQ(w[24].item<float>(), w[40].item<float>());
  EXPECT_GT(w.min().item<float>(), 0.0f);
}

// A pointwise "network": logits (x, 2x + 1). Blending any number of
// overlapping windows must reproduce it exactly, so stitching errors show.
at::Tensor pointwise(const at::Tensor& x) { return at::cat({x, 2 * x + 1}, 1); }

TEST(SlidingWindow, StitchingReproducesAPointwiseNetwork) {
  const at::Tensor image = at::randn({1, 37, 45, 29});
  for (bool mirror : {false, true}) {
    SlidingWindowOptions o;
    o.patch_size = {16, 24, 20};  // i, j, k
    o.windows_per_batch = 3;
    o.mirror = mirror;
    const at::Tensor out = sliding_window_predict(image, pointwise, o);
    EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 37, 45, 29}));
    EXPECT_TRUE(at::allclose(out, pointwise(image.unsqueeze(0)).squeeze(0), 1e-5, 1e-5)) << "mirror " << mirror;
  }
}

TEST(SlidingWindow, VolumeSmallerThanThePatchIsPaddedAndCropped) {
  const at::Tensor image = at::randn({2, 5, 6, 7});
  SlidingWindowOptions o;
  o.patch_size = {8, 8, 8};
  const at::Tensor out = sliding_window_predict(image, [](const at::Tensor& x) { return x * 3; }, o);
  EXPECT_TRUE(at::allclose(out, image * 3, 1e-6, 1e-6));
}

TEST(SlidingWindow, MirroringAveragesFlippedPredictions) {
  // A network that is not flip-equivariant: logits = the input's i index.
  const auto ramp = [](const at::Tensor& x) {
    return at::arange(x.size(4), at::kFloat).view({1, 1, 1, 1, -1}).expand(x.sizes()).contiguous();
  };
  SlidingWindowOptions o;
  o.patch_size = {8, 8, 8};
  o.mirror = true;
  const at::Tensor out = sliding_window_predict(at::zeros({1, 8, 8, 8}), ramp, o);
  // Flipped along i, the ramp reads 7 - i: the average is 3.5 everywhere.
  EXPECT_TRUE(at::allclose(out, at::full_like(out, 3.5f)));
}

TEST(SlidingWindow, ReportsProgressAndCancels) {
  SlidingWindowOptions o;
  o.patch_size = {8, 8, 8};
  std::vector<double> seen;
  o.progress = [&](double f) {
    seen.push_back(f);
    return true;
  };
  sliding_window_predict(at::zeros({1, 20, 20, 20}), pointwise, o);
  ASSERT_FALSE(seen.empty());
  EXPECT_DOUBLE_EQ(seen.back(), 1.0);
  o.progress = [](double f) { return f < 0.3; };
  EXPECT_THROW(sliding_window_predict(at::zeros({1, 20, 20, 20}), pointwise, o), Cancelled);
}

// A "network" that mixes neighbouring voxels (so window edges matter) and
// counts the windows it sees.
struct CountingSmoother {
  std::int64_t* windows;
  at::Tensor operator()(const at::Tensor& x) const {
    *windows += x.size(0);
    const at::Tensor smooth = at::avg_pool3d(x, 3, 1, 1);
    return at::cat({smooth, 1 - 2 * smooth + x.sum({2, 3, 4}, /*keepdim=*/true)}, 1);
  }
};

// Background -1 everywhere but a small body in one corner.
at::Tensor corner_body_image() {
  at::Tensor image = at::full({1, 30, 34, 38}, -1.0f);
  image.slice(1, 2, 8).slice(2, 3, 9).slice(3, 4, 11).copy_(at::rand({1, 6, 6, 7}) * 3);
  return image;
}

TEST(SlidingWindow, WindowsWithoutBodyAreSkippedAndBlendAsIfRun) {
  const at::Tensor image = corner_body_image();
  for (bool mirror : {false, true}) {
    SlidingWindowOptions o;
    o.patch_size = {16, 12, 10};
    o.windows_per_batch = 2;
    o.mirror = mirror;
    std::int64_t all_seen = 0;
    SlidingWindowStats all;
    const at::Tensor expected = sliding_window_predict(image, CountingSmoother{&all_seen}, o, &all);
    EXPECT_EQ(all.skipped, 0);
    EXPECT_EQ(all_seen, all.windows * (mirror ? 8 : 1));

    o.body_mask = image[0] > -1;
    o.background = at::full({1}, -1.0f);
    std::int64_t seen = 0;
    SlidingWindowStats stats;
    const at::Tensor out = sliding_window_predict(image, CountingSmoother{&seen}, o, &stats);
    EXPECT_EQ(stats.windows, all.windows);
    EXPECT_GT(stats.skipped, stats.windows / 2);
    // One extra forward for the empty window, shared by all skipped ones.
    EXPECT_EQ(seen, (stats.windows - stats.skipped + 1) * (mirror ? 8 : 1));
    EXPECT_TRUE(at::equal(out, expected)) << "mirror " << mirror << ", max |diff| "
                                          << (out - expected).abs().max().item<double>();
  }
}

TEST(SlidingWindow, OneBodyVoxelKeepsItsWindowsAndAnEmptyVolumeRunsOnce) {
  at::Tensor image = at::zeros({1, 16, 16, 16});
  SlidingWindowOptions o;
  o.patch_size = {8, 8, 8};
  o.overlap = 0.0;
  o.background = at::zeros({1});
  o.body_mask = image[0] > 0;
  std::int64_t seen = 0;
  SlidingWindowStats stats;
  const at::Tensor empty = sliding_window_predict(image, CountingSmoother{&seen}, o, &stats);
  EXPECT_EQ(stats.windows, 8);
  EXPECT_EQ(stats.skipped, 8);
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(at::allclose(empty.select(0, 1), at::ones({16, 16, 16})));

  image[0][15][0][0] = 5;  // in the window at (i, j, k) = (0, 0, 8) only
  o.body_mask = image[0] > 0;
  sliding_window_predict(image, CountingSmoother{&seen}, o, &stats);
  EXPECT_EQ(stats.skipped, 7);
}

}  // namespace
}  // namespace medseg::pipeline
