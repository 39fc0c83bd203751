// Brush, eraser, islands and sparse undo, against voxel counts worked out
// by hand on small anisotropic grids.
#include "app/gui/logic/label_editor.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/error.h"
#include "tests/app/gui/test_volumes.h"

namespace medseg::gui {
namespace {

using test::linear;

std::int64_t count(const at::Tensor& labels, int value) { return (labels == value).sum().item<std::int64_t>(); }

// 11 x 11 x 5 voxels of 1 x 2 x 3 mm (i, j, k).
pipeline::Geometry aniso() { return test::lps_geometry({11, 11, 5}, {1.0, 2.0, 3.0}); }

std::int16_t at_voxel(const LabelEditor& e, std::int64_t i, std::int64_t j, std::int64_t k) {
  return e.label_data()[linear(e.geometry(), i, j, k)];
}

TEST(LabelEditor, AxialBrushRadiusInMmCoversHandCountedEllipse) {
  LabelEditor e(aniso(), {}, {});
  BrushOptions b;
  b.radius_mm = 3.0;
  e.begin_stroke(b, /*normal_axis=*/2);  // axial: plane (i, j), 1 x 2 mm
  // (a * 1)^2 + (b * 2)^2 <= 9: b = 0 -> |a| <= 3 (7 voxels); b = +-1 ->
  // a^2 <= 5, |a| <= 2 (5 + 5); b = +-2 -> 16 > 9. Total 17.
  EXPECT_EQ(e.paint_at({5, 5, 2}), 17);
  ASSERT_NE(e.end_stroke(), nullptr);
  EXPECT_EQ(count(e.labels(), 1), 17);
  EXPECT_EQ(count(e.labels().select(0, 2), 1), 17) << "all on slice k = 2";
  EXPECT_EQ(at_voxel(e, 8, 5, 2), 1);  // 3 mm along i: on the circle
  EXPECT_EQ(at_voxel(e, 9, 5, 2), 0);
  EXPECT_EQ(at_voxel(e, 7, 6, 2), 1);  // 2^2 + 2^2 = 8 <= 9
  EXPECT_EQ(at_voxel(e, 8, 6, 2), 0);  // 9 + 4 = 13
  EXPECT_EQ(at_voxel(e, 5, 7, 2), 0);  // 4 mm along j
}

TEST(LabelEditor, CoronalAndSagittalBrushesUseTheirPlanesSpacing) {
  LabelEditor e(aniso(), {}, {});
  BrushOptions b;
  b.radius_mm = 3.0;
  e.begin_stroke(b, /*normal_axis=*/1);  // coronal: plane (i, k), 1 x 3 mm
  // a^2 + (3c)^2 <= 9: c = 0 -> 7; c = +-1 -> a = 0 (1 + 1). Total 9.
  EXPECT_EQ(e.paint_at({5, 4, 2}), 9);
  e.end_stroke();
  EXPECT_EQ(count(e.labels().select(1, 4), 1), 9);

  LabelEditor s(aniso(), {}, {});
  b.radius_mm = 6.0;
  b.label = 3;
  s.begin_stroke(b, /*normal_axis=*/0);  // sagittal: plane (j, k), 2 x 3 mm
  // (2b)^2 + (3c)^2 <= 36: c = 0 -> |b| <= 3 (7); c = +-1 -> b^2 <= 6.75,
  // |b| <= 2 (5 + 5); c = +-2 -> b = 0 (1 + 1). Total 19.
  EXPECT_EQ(s.paint_at({6, 5, 2}), 19);
  s.end_stroke();
  EXPECT_EQ(count(s.labels().select(2, 6), 3), 19);
  EXPECT_EQ(count(s.labels(), 3), 19);
}

TEST(LabelEditor, BrushIsClippedAtTheGridBorderAndSubVoxelBrushPaintsOneVoxel) {
  LabelEditor e(aniso(), {}, {});
  BrushOptions b;
  b.radius_mm = 3.0;
  e.begin_stroke(b, 2);
  // Quarter of the 17-voxel ellipse at the corner: b = 0 -> a 0..3 (4),
  // b = 1 -> a 0..2 (3). Total 7.
  EXPECT_EQ(e.paint_at({0, 0, 0}), 7);
  e.end_stroke();
  b.radius_mm = 0.2;
  b.label = 2;
  e.begin_stroke(b, 2);
  EXPECT_EQ(e.paint_at({7.3, 8.4, 3.2}), 1);  // nearest voxel (7, 8, 3)
  e.end_stroke();
  EXPECT_EQ(at_voxel(e, 7, 8, 3), 2);
}

TEST(LabelEditor, DragBetweenDistantPointsLeavesNoGap) {
  LabelEditor e(aniso(), {}, {});
  BrushOptions b;
  b.radius_mm = 1.0;  // in the axial plane (1 x 2 mm): 3 voxels along i only
  e.begin_stroke(b, 2);
  EXPECT_EQ(e.paint_at({1, 5, 2}), 3);
  // Jumping to i = 9 fills the row between: i = 0..10 (11 voxels), 8 new.
  EXPECT_EQ(e.paint_at({9, 5, 2}), 8);
  e.end_stroke();
  EXPECT_EQ(count(e.labels(), 1), 11);
  EXPECT_EQ(count(e.labels().select(0, 2).select(0, 5), 1), 11);
}

TEST(LabelEditor, PaintIsLimitedToTheIntensityRange) {
  const pipeline::Geometry g = aniso();
  // Scan intensity = i (the column), so [4, 6] admits columns 4, 5, 6.
  const at::Tensor scan = at::arange(11, at::kFloat).view({1, 1, 11}).expand({5, 11, 11}).contiguous();
  LabelEditor e(g, {}, scan);
  BrushOptions b;
  b.radius_mm = 3.0;
  b.intensity_range = std::array<double, 2>{4.0, 6.0};
  e.begin_stroke(b, 2);
  // Of the 17-voxel ellipse around (5, 5): rows b = -1, 0, 1 each have
  // a = -1, 0, 1 in range: 9 voxels.
  EXPECT_EQ(e.paint_at({5, 5, 2}), 9);
  e.end_stroke();
  const at::Tensor painted = (e.labels() == 1).nonzero();
  EXPECT_TRUE((painted.select(1, 2) >= 4).all().item<bool>());
  EXPECT_TRUE((painted.select(1, 2) <= 6).all().item<bool>());
  // No scan, no intensity limit.
  LabelEditor blind(g, {}, {});
  EXPECT_THROW(blind.begin_stroke(b, 2), ConfigError);
}

TEST(LabelEditor, ProtectOtherLabelsKeepsThemWhenPaintingAndErasing) {
  const pipeline::Geometry g = aniso();
  // Label 2 along the column i = 5 of slice k = 2 (11 voxels).
  at::Tensor start = at::zeros({5, 11, 11}, at::kShort);
  start.select(0, 2).select(1, 5).fill_(2);
  BrushOptions b;
  b.radius_mm = 3.0;
  b.protect_other_labels = true;
  {
    LabelEditor e(g, start, {});
    e.begin_stroke(b, 2);
    // The 17-voxel ellipse minus its 3 voxels in column i = 5 (rows -1..1).
    EXPECT_EQ(e.paint_at({5, 5, 2}), 14);
    e.end_stroke();
    EXPECT_EQ(count(e.labels(), 1), 14);
    EXPECT_EQ(count(e.labels(), 2), 11);
  }
  {
    b.protect_other_labels = false;
    LabelEditor e(g, start, {});
    e.begin_stroke(b, 2);
    EXPECT_EQ(e.paint_at({5, 5, 2}), 17);
    e.end_stroke();
    EXPECT_EQ(count(e.labels(), 2), 8);
  }
  {
    // Erase label 1 with protection: label 2 stays; without: both go.
    at::Tensor both = start.clone();
    both.select(0, 2).select(0, 5).fill_(1);  // row j = 5 of slice 2 -> label 1 (overwrites (5,5))
    const std::int64_t ones = count(both, 1), twos = count(both, 2);
    ASSERT_EQ(ones, 11);
    ASSERT_EQ(twos, 10);
    b.mode = BrushMode::kErase;
    b.label = 1;
    b.protect_other_labels = true;
    LabelEditor e(g, both, {});
    e.begin_stroke(b, 2);
    // Ellipse row b = 0 holds label 1 at a = -3..3: 7 erased; label 2 in
    // rows -1 and 1 is protected.
    EXPECT_EQ(e.paint_at({5, 5, 2}), 7);
    e.end_stroke();
    EXPECT_EQ(count(e.labels(), 1), 4);
    EXPECT_EQ(count(e.labels(), 2), 10);
    b.protect_other_labels = false;
    e.begin_stroke(b, 2);
    EXPECT_EQ(e.paint_at({5, 5, 2}), 2);  // (5, 4) and (5, 6) of label 2
    e.end_stroke();
    EXPECT_EQ(count(e.labels(), 2), 8);
  }
}

TEST(LabelEditor, UndoRestoresExactBytesAndRedoReappliesThem) {
  const pipeline::Geometry g = aniso();
  at::manual_seed(11);
  const at::Tensor start = at::randint(0, 4, {5, 11, 11}, at::kShort);
  LabelEditor e(g, start, {});
  BrushOptions b;
  b.radius_mm = 4.0;
  std::vector<at::Tensor> states{e.labels().clone()};
  const std::array<std::array<double, 3>, 3> centres{{{3, 3, 1}, {6, 7, 2}, {8, 2, 4}}};
  for (int s = 0; s < 3; ++s) {
    b.label = static_cast<std::int16_t>(5 + s);
    b.mode = s == 1 ? BrushMode::kErase : BrushMode::kPaint;
    e.begin_stroke(b, s % 3);
    e.paint_at(centres[static_cast<std::size_t>(s)]);
    e.paint_at({5, 5, 2});
    ASSERT_NE(e.end_stroke(), nullptr);
    states.push_back(e.labels().clone());
    EXPECT_FALSE(at::equal(states[states.size() - 1], states[states.size() - 2]));
  }
  EXPECT_EQ(e.history().undo_count(), 3u);
  for (int s = 2; s >= 0; --s) {
    ASSERT_NE(e.undo(), nullptr);
    EXPECT_TRUE(at::equal(e.labels(), states[static_cast<std::size_t>(s)])) << "after undoing stroke " << s;
  }
  EXPECT_EQ(e.undo(), nullptr);
  EXPECT_TRUE(at::equal(e.labels(), start));
  for (int s = 1; s <= 3; ++s) {
    ASSERT_NE(e.redo(), nullptr);
    EXPECT_TRUE(at::equal(e.labels(), states[static_cast<std::size_t>(s)])) << "after redoing stroke " << s;
  }
  EXPECT_EQ(e.redo(), nullptr);
  // A new edit after an undo drops the redo branch.
  e.undo();
  b.mode = BrushMode::kPaint;
  b.label = 9;
  e.begin_stroke(b, 2);
  e.paint_at({1, 1, 1});
  e.end_stroke();
  EXPECT_FALSE(e.can_redo());
  EXPECT_EQ(e.history().undo_count(), 3u);
  // No undo in the middle of a stroke.
  e.begin_stroke(b, 2);
  EXPECT_THROW(e.undo(), std::logic_error);
  e.end_stroke();
}

TEST(LabelEditor, EditsItsOwnCopyNeverTheCallersLabelMap) {
  // int16 contiguous input would be returned as-is by to()/contiguous().
  const at::Tensor given = at::zeros({5, 11, 11}, at::kShort);
  LabelEditor e(aniso(), given, {});
  BrushOptions b;
  e.begin_stroke(b, 2);
  EXPECT_GT(e.paint_at({5, 5, 2}), 0);
  e.end_stroke();
  EXPECT_EQ(given.count_nonzero().item<std::int64_t>(), 0);
}

TEST(LabelEditor, StrokeThatChangesNothingIsNoUndoStep) {
  LabelEditor e(aniso(), {}, {});
  BrushOptions b;
  b.mode = BrushMode::kErase;
  e.begin_stroke(b, 2);
  EXPECT_EQ(e.paint_at({5, 5, 2}), 0);
  EXPECT_EQ(e.end_stroke(), nullptr);
  EXPECT_FALSE(e.can_undo());
}

TEST(LabelEditor, HundredStrokesOnALargeVolumeCostMemoryProportionalToChangedVoxels) {
  // 256 x 256 x 64 int16 = 8 MiB per full copy; 100 copies would be 800 MiB.
  const pipeline::Geometry g = test::lps_geometry({256, 256, 64}, {0.8, 0.8, 2.5});
  LabelEditor e(g, {}, {});
  BrushOptions b;
  b.radius_mm = 4.0;
  std::int64_t changed = 0;
  for (int s = 0; s < 100; ++s) {
    b.label = static_cast<std::int16_t>(1 + s % 3);
    const int normal = s % 3;
    // Changed voxels counted independently: compare a box around the
    // stroke (its points span 12 x 8 x 1.2 voxels, the brush reaches 5 x 5
    // x 2 voxels; 8 voxels of margin) before and after.
    const std::int64_t i0 = 20 + 2 * s - 8, j0 = 30 + s - 8, k0 = 5 + s % 50 - 8;
    auto box = [&] {
      return e.labels().slice(0, std::max<std::int64_t>(k0, 0), k0 + 18).slice(1, j0, j0 + 24).slice(2, i0, i0 + 28);
    };
    const at::Tensor before = box().clone();
    e.begin_stroke(b, normal);
    // A short drag of 5 points.
    for (int p = 0; p < 5; ++p) {
      e.paint_at({20.0 + 2 * s + 3 * p, 30.0 + s + 2 * p, 5.0 + (s % 50) + 0.3 * p});
    }
    e.end_stroke();
    changed += (box() != before).sum().item<std::int64_t>();
  }
  // Every labelled voxel changed at least once, so a box that missed
  // changes would show here.
  ASSERT_LE(e.labels().count_nonzero().item<std::int64_t>(), changed);
  ASSERT_EQ(e.history().undo_count(), 100u);
  ASSERT_GT(changed, 5000);
  // At most one run record (16 bytes) plus old and new value (2 + 2) per
  // changed voxel, plus vector slack per step.
  EXPECT_LE(e.history().memory_bytes(), static_cast<std::size_t>(20 * changed + 100 * 64));
  EXPECT_LT(e.history().memory_bytes(), std::size_t{1} << 20) << "well under one full copy (8 MiB)";
  // And all of it undoes back to an empty map.
  while (e.undo() != nullptr) {
  }
  EXPECT_EQ(count(e.labels(), 0), g.num_voxels());
}

TEST(LabelEditor, WholeVolumeReplacementIsOneSparseUndoStep) {
  const pipeline::Geometry g = test::lps_geometry({64, 64, 32}, {1, 1, 1});
  at::Tensor start = at::zeros({32, 64, 64}, at::kShort);
  start.slice(0, 10, 12).fill_(1);  // 2 slices = 8192 voxels of label 1
  LabelEditor e(g, start, {});
  at::Tensor ai = start.clone();
  ai.slice(0, 11, 12).fill_(0);         // 4096 voxels 1 -> 0
  ai.slice(0, 20, 21).slice(1, 0, 8).fill_(2);  // 512 voxels 0 -> 2
  const LabelChange* step = e.replace_all(ai);
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->voxel_count(), 4096 + 512);
  EXPECT_EQ(e.history().undo_count(), 1u);
  EXPECT_TRUE(at::equal(e.labels(), ai));
  EXPECT_LE(e.history().memory_bytes(), static_cast<std::size_t>(20 * (4096 + 512)));
  ASSERT_NE(e.undo(), nullptr);
  EXPECT_TRUE(at::equal(e.labels(), start));
  EXPECT_FALSE(e.can_undo());
  ASSERT_NE(e.redo(), nullptr);
  EXPECT_TRUE(at::equal(e.labels(), ai));
  EXPECT_EQ(e.replace_all(ai), nullptr) << "an identical result changes nothing";
  EXPECT_THROW(e.replace_all(at::zeros({32, 64, 63}, at::kShort)), IoError);
}

// 10 x 10 x 10 voxels of 1 x 1 x 2 mm = 0.002 mL each.
at::Tensor island_map() {
  at::Tensor l = at::zeros({10, 10, 10}, at::kShort);  // [k][j][i]
  l.slice(0, 1, 4).slice(1, 1, 4).slice(2, 1, 4).fill_(1);  // cube 27 voxels = 0.054 mL
  l[4][4][4] = 1;            // touches the cube's corner (3, 3, 3) only
  l[7][7][7] = 1;            // a 2-voxel island (0.004 mL)
  l[7][7][8] = 1;
  l.slice(0, 8, 9).slice(1, 6, 9).slice(2, 1, 4).fill_(2);  // 3 x 3 plate of label 2 = 0.018 mL
  l[2][2][4] = 2;            // a single label-2 voxel touching the cube's face
  return l;
}

TEST(LabelEditor, RemovesIslandsSmallerThanTheVolumeIn3D) {
  const pipeline::Geometry g = test::lps_geometry({10, 10, 10}, {1, 1, 2});
  {
    // 6-connectivity, 0.01 mL: the corner voxel (0.002), the pair (0.004)
    // and the lone label-2 voxel (0.002; a different label from the cube it
    // touches) go; the cube (0.054) and the plate (0.018) stay.
    LabelEditor e(g, island_map(), {});
    const LabelChange* step = e.remove_islands(0.01, Connectivity::kFaces6);
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(step->voxel_count(), 4);
    EXPECT_EQ(count(e.labels(), 1), 27);
    EXPECT_EQ(count(e.labels(), 2), 9);
    EXPECT_EQ(at_voxel(e, 4, 4, 4), 0);
    EXPECT_EQ(at_voxel(e, 4, 2, 2), 0);
    ASSERT_NE(e.undo(), nullptr);
    EXPECT_TRUE(at::equal(e.labels(), island_map()));
  }
  {
    // 26-connectivity: the corner voxel belongs to the cube (28 voxels).
    LabelEditor e(g, island_map(), {});
    const LabelChange* step = e.remove_islands(0.01, Connectivity::kFull26);
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(step->voxel_count(), 3);
    EXPECT_EQ(at_voxel(e, 4, 4, 4), 1);
  }
  {
    // Only label 2.
    LabelEditor e(g, island_map(), {});
    const LabelChange* step = e.remove_islands(0.01, Connectivity::kFaces6, 2);
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(step->voxel_count(), 1);
    EXPECT_EQ(count(e.labels(), 1), 27 + 1 + 2);
  }
  {
    // Strictly smaller: the 0.004 mL pair stays at a 0.004 mL threshold,
    // the single voxels (0.002) go.
    LabelEditor e(g, island_map(), {});
    const LabelChange* step = e.remove_islands(0.004, Connectivity::kFaces6);
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(step->voxel_count(), 2);
    EXPECT_EQ(at_voxel(e, 7, 7, 7), 1);
    EXPECT_EQ(e.remove_islands(0.001, Connectivity::kFaces6), nullptr) << "nothing that small left";
  }
}

}  // namespace
}  // namespace medseg::gui
