// Label statistics against hand-computed volumes, means, SDs and Dice, and
// against a full recount after incremental updates.
#include "app/gui/logic/label_statistics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "app/gui/logic/label_editor.h"
#include "pipeline/eval/metrics.h"
#include "tests/app/gui/test_volumes.h"
#include "tests/common/temp_dir.h"

namespace medseg::gui {
namespace {

// 4 x 3 x 2 voxels (i, j, k) of 0.5 x 2 x 1.5 mm = 1.5 mm^3 = 0.0015 mL.
pipeline::Geometry small() { return test::lps_geometry({4, 3, 2}, {0.5, 2.0, 1.5}); }

struct Fixture {
  at::Tensor scan = at::zeros({2, 3, 4}, at::kFloat);   // [k][j][i]
  at::Tensor labels = at::zeros({2, 3, 4}, at::kShort);
  at::Tensor reference = at::zeros({2, 3, 4}, at::kShort);
  Fixture() {
    // Label 1 on four voxels with intensities 10, 20, 30, 40.
    const int one[4][3] = {{0, 0, 0}, {1, 0, 0}, {2, 1, 0}, {3, 2, 1}};
    const float x1[4] = {10, 20, 30, 40};
    for (int n = 0; n < 4; ++n) {
      labels[one[n][2]][one[n][1]][one[n][0]] = 1;
      scan[one[n][2]][one[n][1]][one[n][0]] = x1[n];
    }
    // Label 2 on two voxels with intensities -5 and 5.
    labels[1][0][0] = 2;
    scan[1][0][0] = -5.0f;
    labels[1][0][1] = 2;
    scan[1][0][1] = 5.0f;
    // Background intensity 1000 everywhere else (must not leak in).
    scan.masked_fill_(labels == 0, 1000.0f);
    // Reference: label 1 on three voxels, two of them shared with the
    // labels ((0,0,0) and (2,1,0)); label 3 on one voxel only there.
    reference[0][0][0] = 1;
    reference[0][1][2] = 1;
    reference[0][2][3] = 1;
    reference[1][2][2] = 3;
  }
};

TEST(LabelStatistics, VolumeMeanAndSdByHand) {
  Fixture f;
  LabelStatistics s(small(), f.scan);
  s.recompute(f.labels);
  const auto rows = s.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, 1);
  EXPECT_EQ(rows[0].voxels, 4);
  EXPECT_NEAR(rows[0].volume_ml, 0.006, 1e-12);  // 4 x 1.5 mm^3
  EXPECT_NEAR(rows[0].mean, 25.0, 1e-12);
  // Population SD: deviations -15, -5, 5, 15 -> (225 + 25 + 25 + 225) / 4
  // = 125 -> 11.180339887.
  EXPECT_NEAR(rows[0].sd, 11.180339887498949, 1e-9);
  EXPECT_TRUE(std::isnan(rows[0].dice)) << "no reference loaded";
  EXPECT_EQ(rows[1].label, 2);
  EXPECT_EQ(rows[1].voxels, 2);
  EXPECT_NEAR(rows[1].volume_ml, 0.003, 1e-12);
  EXPECT_NEAR(rows[1].mean, 0.0, 1e-12);
  EXPECT_NEAR(rows[1].sd, 5.0, 1e-12);
}

TEST(LabelStatistics, DiceAgainstReferenceByHandAndAsPipelineMetrics) {
  Fixture f;
  LabelStatistics s(small(), f.scan);
  s.set_reference(f.reference);
  s.recompute(f.labels);
  const auto rows = s.rows();
  ASSERT_EQ(rows.size(), 3u);  // labels 1, 2 and the reference-only 3
  // Label 1: |A| = 4, |B| = 3, overlap 2 -> 2 * 2 / 7.
  EXPECT_NEAR(rows[0].dice, 4.0 / 7.0, 1e-12);
  EXPECT_EQ(rows[0].reference_voxels, 3);
  // Label 2: absent from the reference -> 0.
  EXPECT_DOUBLE_EQ(rows[1].dice, 0.0);
  // Label 3: only in the reference.
  EXPECT_EQ(rows[2].label, 3);
  EXPECT_EQ(rows[2].voxels, 0);
  EXPECT_DOUBLE_EQ(rows[2].volume_ml, 0.0);
  EXPECT_TRUE(std::isnan(rows[2].mean));
  EXPECT_DOUBLE_EQ(rows[2].dice, 0.0);
  // The project's evaluation metric agrees.
  for (const auto& r : rows) {
    const auto m = pipeline::compare_masks(f.labels == r.label, f.reference == r.label, small().spacing);
    EXPECT_NEAR(r.dice, m.dice, 1e-12) << "label " << r.label;
  }
  // Clearing the reference clears Dice.
  s.set_reference({});
  s.recompute(f.labels);
  EXPECT_EQ(s.rows().size(), 2u);
}

TEST(LabelStatistics, IncrementalUpdatesMatchAFullRecount) {
  const pipeline::Geometry g = test::lps_geometry({20, 18, 12}, {0.7, 0.9, 2.0});
  at::manual_seed(21);
  const at::Tensor scan = at::randn({12, 18, 20}) * 40 + 50;
  const at::Tensor start = at::randint(0, 3, {12, 18, 20}, at::kShort);
  const at::Tensor reference = at::randint(0, 4, {12, 18, 20}, at::kShort);
  LabelEditor editor(g, start, scan);
  LabelStatistics live(g, scan);
  live.set_reference(reference);
  live.recompute(editor.labels());
  BrushOptions b;
  b.radius_mm = 3.0;
  for (int s = 0; s < 6; ++s) {
    b.label = static_cast<std::int16_t>(1 + s % 4);  // label 3 is not in `start`
    b.mode = s == 3 ? BrushMode::kErase : BrushMode::kPaint;
    editor.begin_stroke(b, s % 3);
    editor.paint_at({3.0 + 2 * s, 4.0 + s, 2.0 + s});
    const LabelChange* step = editor.end_stroke();
    ASSERT_NE(step, nullptr);
    live.apply(*step, false);
  }
  const LabelChange* undone = editor.undo();
  ASSERT_NE(undone, nullptr);
  live.apply(*undone, true);

  LabelStatistics fresh(g, scan);
  fresh.set_reference(reference);
  fresh.recompute(editor.labels());
  const auto a = live.rows(), e = fresh.rows();
  ASSERT_EQ(a.size(), e.size());
  for (std::size_t n = 0; n < a.size(); ++n) {
    EXPECT_EQ(a[n].label, e[n].label);
    EXPECT_EQ(a[n].voxels, e[n].voxels);
    EXPECT_EQ(a[n].reference_voxels, e[n].reference_voxels);
    EXPECT_DOUBLE_EQ(a[n].dice, e[n].dice);
    EXPECT_NEAR(a[n].mean, e[n].mean, 1e-9);
    EXPECT_NEAR(a[n].sd, e[n].sd, 1e-9);
    // And the counts are what ATen counts.
    EXPECT_EQ(a[n].voxels, (editor.labels() == a[n].label).sum().item<std::int64_t>());
  }
}

TEST(LabelStatistics, CsvByHandWithQuotedNamesWrittenAtomically) {
  Fixture f;
  LabelStatistics s(small(), f.scan);
  s.set_reference(f.reference);
  s.recompute(f.labels);
  const std::map<int, std::string> names{{1, "tumour, core"}, {2, "oedema \"peri\""}};
  const std::string expected =
      "label,name,voxels,volume_ml,mean,sd,reference_voxels,dice\n"
      "1,\"tumour, core\",4,0.006000,25.000,11.180,3,0.571429\n"
      "2,\"oedema \"\"peri\"\"\",2,0.003000,0.000,5.000,0,0.000000\n"
      "3,,0,0.000000,,,1,0.000000\n";
  EXPECT_EQ(label_statistics_csv(s.rows(), names, true), expected);
  // Without a reference the last two cells stay empty.
  const std::string plain = label_statistics_csv({s.rows()[0]}, {}, false);
  EXPECT_EQ(plain.substr(plain.find('\n') + 1), "1,,4,0.006000,25.000,11.180,,\n");

  const medseg::test::TempDir dir;
  const auto path = dir / "stats.csv";
  write_label_statistics_csv(path, s.rows(), names, true);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), expected);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "no temporary file left behind";
}

}  // namespace
}  // namespace medseg::gui
