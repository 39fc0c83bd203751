// The one-pass label resampling against the per-label ITK path it replaces:
// every label's indicator resampled linearly by itk::ResampleImageFilter,
// then the largest score wins (first label on ties).
#include "pipeline/preprocess/label_resample_kernel.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/preprocess/reorient.h"
#include "pipeline/preprocess/resample.h"

namespace medseg::pipeline {
namespace {

struct Reference {
  at::Tensor labels;  // float, on the target grid
  at::Tensor margin;  // best score minus the runner-up's
  at::Tensor best;    // the best score (0 outside the field of view)
};

Reference itk_reference(const Volume& labels, const Geometry& target) {
  const at::Tensor values = std::get<0>(at::_unique(labels.data.to(at::kFloat).round()));
  std::vector<at::Tensor> scores;
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    Volume indicator = labels;
    indicator.data = (labels.data.to(at::kFloat).round() == values[i]).to(at::kFloat);
    scores.push_back(resample(indicator, target, Interpolation::kLinear).data);
  }
  const at::Tensor all = at::stack(scores);  // (K, D, H, W)
  const auto top = at::topk(all, std::min<std::int64_t>(2, values.numel()), 0);
  Reference r;
  // argmax returns the first maximum, as the strict > of the per-label loop.
  r.labels = values.index({at::argmax(all, 0)});
  r.best = std::get<0>(top)[0];
  r.margin = values.numel() > 1 ? (std::get<0>(top)[0] - std::get<0>(top)[1]) : at::ones_like(all[0]);
  const bool has_background = (values == 0).any().item<bool>();
  if (!has_background) {
    r.labels = at::where(std::get<0>(top)[0] <= 0.0f, at::zeros_like(r.labels), r.labels);
  }
  return r;
}

// Smooth random regions: coarse noise, upsampled, cut into levels.
Volume blob_labels(const std::vector<float>& values, std::uint64_t seed) {
  at::manual_seed(static_cast<std::int64_t>(seed));
  Volume v;
  v.geometry.size = {10, 9, 7};
  v.geometry.spacing = {1.5, 2.0, 2.5};
  v.geometry.origin = {3.0, -7.0, 11.0};
  const double a = 0.4, b = 0.3;  // a rotation about z then x: oblique
  v.geometry.direction = {std::cos(a), -std::sin(a) * std::cos(b), std::sin(a) * std::sin(b),
                          std::sin(a), std::cos(a) * std::cos(b), -std::cos(a) * std::sin(b),
                          0.0, std::sin(b), std::cos(b)};
  const at::Tensor coarse = at::rand({1, 1, 3, 4, 4});
  const at::Tensor smooth =
      at::upsample_trilinear3d(coarse, {7, 9, 10}, /*align_corners=*/false).squeeze(0).squeeze(0);
  const at::Tensor level =
      (smooth - smooth.min()) / (smooth.max() - smooth.min() + 1e-6) * static_cast<double>(values.size());
  const at::Tensor k = level.floor().clamp(0, static_cast<double>(values.size()) - 1).to(at::kLong);
  v.data = at::tensor(values).index({k}).contiguous();
  return v;
}

void expect_matches_itk(const Volume& labels, const Geometry& target) {
  const auto fast = resample_labels_axis_aligned(labels, target);
  ASSERT_TRUE(fast.has_value());
  EXPECT_EQ(fast->data.scalar_type(), labels.data.scalar_type());
  ASSERT_EQ(fast->data.sizes(), (at::IntArrayRef{target.size[2], target.size[1], target.size[0]}));
  const Reference ref = itk_reference(labels, target);
  // Where two labels score within rounding of each other either answer is
  // right; everywhere else (outside the field of view included, where
  // nothing scores) the labels must be identical.
  const at::Tensor decided = (ref.margin > 1e-6f) | (ref.best == 0.0f);
  const at::Tensor differ = (fast->data.to(at::kFloat) != ref.labels) & decided;
  EXPECT_EQ(differ.sum().item<std::int64_t>(), 0);
  EXPECT_GT(decided.to(at::kFloat).mean().item<float>(), 0.9f);  // not a vacuous comparison
  // And the boundary is not trivial: several labels and mixed neighbourhoods.
  EXPECT_GE(std::get<0>(at::_unique(fast->data)).numel(), 3);
}

TEST(LabelResampleKernel, TapsClampAtTheBordersAndStopHalfAVoxelOutside) {
  // Source axis of 4 voxels, target centres at -0.75, -0.25, 0.25, ... 3.75.
  const AxisTaps t = linear_taps(-0.75, 0.5, 10, 4);
  const std::vector<std::uint8_t> inside{0, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  EXPECT_EQ(t.inside, inside);
  EXPECT_EQ(t.lo[1], 0);  // -0.25: the first voxel alone
  EXPECT_EQ(t.hi[1], 0);
  EXPECT_EQ(t.w[1], 0.0);
  EXPECT_EQ(t.lo[2], 0);  // 0.25: between voxels 0 and 1, a quarter towards 1
  EXPECT_EQ(t.hi[2], 1);
  EXPECT_DOUBLE_EQ(t.w[2], 0.25);
  EXPECT_EQ(t.lo[7], 2);  // 2.75
  EXPECT_EQ(t.hi[7], 3);
  EXPECT_DOUBLE_EQ(t.w[7], 0.75);
  EXPECT_EQ(t.lo[8], 3);  // 3.25: the last voxel alone
  EXPECT_EQ(t.hi[8], 3);
  EXPECT_EQ(t.w[8], 0.0);
}

TEST(LabelResampleKernel, HandComputedScoresPickTheHeavierLabel) {
  // Two source voxels along x: label 1 then label 2 (values 4 and 9).
  const at::Tensor index = at::tensor({0, 1}, at::kByte).view({1, 1, 2});
  std::array<AxisTaps, 3> taps{linear_taps(0.0, 0.25, 5, 2), linear_taps(0.0, 1.0, 1, 1),
                               linear_taps(0.0, 1.0, 1, 1)};
  const at::Tensor out = resample_label_indices(index, taps, {4, 9}, -1);
  // Scores of label 9 at x = 0, .25, .5, .75, 1: 0, .25, .5 (tie: first), .75, 1.
  EXPECT_TRUE(at::equal(out.view({-1}), at::tensor({4, 4, 4, 9, 9}, at::kShort)));
}

TEST(LabelResampleKernel, MatchesPerLabelItkResamplingOnAnObliqueGrid) {
  const Volume labels = blob_labels({0, 1, 2, 7}, 11);
  expect_matches_itk(labels, grid_with_spacing(labels.geometry, {0.6, 0.7, 1.3}));  // restore
  expect_matches_itk(labels, grid_with_spacing(labels.geometry, {3.1, 2.9, 4.0}));  // preprocess
}

TEST(LabelResampleKernel, MatchesItkWherePartOfTheTargetIsOutside) {
  for (const std::vector<float>& values : {std::vector<float>{0, 1, 2}, std::vector<float>{1, 2, 3}}) {
    Volume labels = blob_labels(values, 5);
    Geometry target = grid_with_spacing(labels.geometry, {0.8, 0.8, 0.8});
    // Shift by 4 mm along the first two axes and grow: a margin falls outside.
    for (int r = 0; r < 3; ++r) {
      target.origin[r] += 4.0 * (target.direction_at(r, 0) + target.direction_at(r, 1));
    }
    target.size[0] += 4;
    const auto fast = resample_labels_axis_aligned(labels, target);
    ASSERT_TRUE(fast.has_value());
    // Outside the field of view is background (0), with or without a 0 label.
    EXPECT_EQ(fast->data[0][0][target.size[0] - 1].item<float>(), 0.0f);
    expect_matches_itk(labels, target);
    labels.data = labels.data.to(at::kShort);  // the dtype inference produces
    expect_matches_itk(labels, target);
  }
}

TEST(LabelResampleKernel, MatchesItkOntoAReorientedGrid) {
  // Undoing a reorientation: target axes permuted and flipped relative to
  // the source's (what restoring an LPS input from an RAS plan does).
  const Volume labels = blob_labels({0, 1, 2}, 21);
  int reoriented = 0;
  for (const char* code : {"RAS", "LPS", "SRA", "IPL"}) {
    SCOPED_TRACE(code);
    Volume grid;
    grid.geometry = grid_with_spacing(labels.geometry, {0.6, 0.7, 1.3});
    grid.data = at::zeros({grid.geometry.size[2], grid.geometry.size[1], grid.geometry.size[0]});
    const Geometry target = Reorient(code)(grid).geometry;
    reoriented += target.direction != labels.geometry.direction ? 1 : 0;
    expect_matches_itk(labels, target);
  }
  EXPECT_GE(reoriented, 3);
}

TEST(LabelResampleKernel, DeclinesGridsWithAnotherDirection) {
  const Volume labels = blob_labels({0, 1}, 3);
  Geometry target = labels.geometry;
  target.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_FALSE(resample_labels_axis_aligned(labels, target).has_value());
}

}  // namespace
}  // namespace medseg::pipeline
