// The open-scan state: crosshair, window, editing through screen
// coordinates, statistics kept current, and the notifications the widgets
// will listen to.
#include "app/gui/logic/scan_session.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "models/bundle.h"
#include "core/error.h"
#include "tests/app/gui/test_volumes.h"
#include "tests/common/temp_dir.h"

namespace medseg::gui {
namespace {

// RAS 9 x 11 x 13 (i -> Right, j -> Anterior, k -> Superior), 1 mm.
pipeline::Volume ras_scan() {
  pipeline::Volume v = test::zero_volume(
      test::centred_geometry({9, 11, 13}, {1, 1, 1}, {-1, 0, 0, 0, -1, 0, 0, 0, 1}, {4, 5, 6}));
  v.data = at::arange(9 * 11 * 13, at::kFloat).view({13, 11, 9}).clone();  // intensity = linear index
  return v;
}

struct Counter {
  int calls = 0;
  std::function<void()> callback() {
    return [this] { ++calls; };
  }
};

TEST(ScanSession, CrosshairStartsAtCentreMovesClampedAndNotifiesOnce) {
  ScanSession s(ras_scan());
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{4, 5, 6}));
  Counter moved;
  s.crosshair_changed.connect(moved.callback());
  s.set_crosshair({4, 5, 6});
  EXPECT_EQ(moved.calls, 0) << "same position";
  s.set_crosshair({100, -3, 7});
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{8, 0, 7}));
  EXPECT_EQ(moved.calls, 1);
  // Intensity = linear index (7 * 11 + 0) * 9 + 8 = 701.
  EXPECT_FLOAT_EQ(s.intensity_at_crosshair(), 701.0f);
  // Patient mm: offsets (4, -5, 1) voxels from the centre at the origin;
  // RAS i points Right (LPS -x), j Anterior (-y): (-4, 5, 1).
  const auto mm = s.crosshair_mm();
  EXPECT_NEAR(mm[0], -4.0, 1e-12);
  EXPECT_NEAR(mm[1], 5.0, 1e-12);
  EXPECT_NEAR(mm[2], 1.0, 1e-12);
}

TEST(ScanSession, ScreenClicksAndScrollingMoveTheRightVoxelAxis) {
  ScanSession s(ras_scan());
  // Axial pixel (0, 0): patient right-anterior corner = (8, 10) on slice 6.
  s.set_crosshair_from_screen(ViewKind::kAxial, 0.2, -0.3);
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{8, 10, 6}));
  // Scrolling the axial view moves k; the coronal view moves j; the
  // sagittal view moves i.
  s.step_slice(ViewKind::kAxial, 2);
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{8, 10, 8}));
  s.step_slice(ViewKind::kCoronal, -3);
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{8, 7, 8}));
  s.step_slice(ViewKind::kSagittal, -100);
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{0, 7, 8}));
  EXPECT_EQ(s.slice(ViewKind::kCoronal), 7);
  // Neurological: axial pixel (0, 0) is the patient's left (i = 0).
  Counter display;
  s.display_changed.connect(display.callback());
  s.set_convention(DisplayConvention::kNeurological);
  EXPECT_EQ(display.calls, 1);
  s.set_crosshair_from_screen(ViewKind::kAxial, 0, 0);
  EXPECT_EQ(s.crosshair(), (std::array<std::int64_t, 3>{0, 10, 8}));
}

TEST(ScanSession, OpeningWindowIsSoftTissueForCtAndPercentilesOtherwise) {
  pipeline::Volume ct = ras_scan();
  ct.metadata.modality = "CT";
  ScanSession c(ct);
  EXPECT_EQ(c.window(), WindowLevel(400, 40));
  // Intensities 0..1286: percentiles 0.5 and 99.5 at ranks 6.43 and 1279.57.
  ScanSession m(ras_scan());
  EXPECT_NEAR(m.window().lower(), 6.43, 1e-6);
  EXPECT_NEAR(m.window().upper(), 1279.57, 1e-6);
  // A stored (DICOM) window wins over both.
  ScanSessionOptions stored;
  stored.stored_window = WindowLevel(350, 50);
  ScanSession d(ct, {}, stored);
  EXPECT_EQ(d.window(), WindowLevel(350, 50));
  // The one in the scan's DICOM metadata too (center 30, width 90).
  pipeline::Volume dicom_ct = ct;
  dicom_ct.metadata.window_center = 30.0;
  dicom_ct.metadata.window_width = 90.0;
  ScanSession e(dicom_ct);
  EXPECT_EQ(e.window(), WindowLevel(90, 30));
  ASSERT_TRUE(e.stored_window().has_value());
  e.apply_preset("bone");
  e.apply_stored_window();
  EXPECT_EQ(e.window(), WindowLevel(90, 30));
  EXPECT_FALSE(c.stored_window().has_value());
  EXPECT_THROW(c.apply_stored_window(), ConfigError);
  Counter changed;
  m.window_changed.connect(changed.callback());
  m.apply_preset("lung");
  EXPECT_EQ(m.window(), WindowLevel(1500, -600));
  m.set_window(WindowLevel(1500, -600));
  EXPECT_EQ(changed.calls, 1);
  EXPECT_THROW(m.apply_preset("abdomen"), ConfigError);
}

TEST(ScanSession, PaintingInScreenCoordinatesUpdatesStatisticsAndUndoes) {
  ScanSession s(ras_scan());
  Counter labels, stats, history;
  s.labels_changed.connect(labels.callback());
  s.statistics_changed.connect(stats.callback());
  s.history_changed.connect(history.callback());
  BrushOptions b;
  b.radius_mm = 1.0;  // 1 mm voxels: the centre and its 4 in-plane neighbours
  b.label = 3;
  s.begin_stroke(ViewKind::kAxial, b);
  s.paint_at(4, 5);  // axial screen (4, 5) on slice 6 = voxel (8 - 4, 10 - 5, 6)
  EXPECT_EQ(labels.calls, 1);
  EXPECT_EQ(stats.calls, 0) << "statistics follow at the end of the stroke";
  EXPECT_TRUE(s.statistics().empty());
  s.end_stroke();
  EXPECT_EQ(stats.calls, 1);
  EXPECT_EQ(history.calls, 1);
  EXPECT_TRUE(s.can_undo());
  EXPECT_EQ(s.labels()[6][5][4].item<int>(), 3);
  EXPECT_EQ(s.labels()[6][6][4].item<int>(), 3);
  EXPECT_EQ(s.labels()[6][5][5].item<int>(), 3);
  EXPECT_EQ(s.labels()[5][5][4].item<int>(), 0) << "other slices untouched";
  auto rows = s.statistics();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].label, 3);
  EXPECT_EQ(rows[0].voxels, 5);
  // Mean intensity = mean linear index of (4,5,6), (3,5,6), (5,5,6),
  // (4,4,6), (4,6,6) = (6 * 11 + 5) * 9 + 4 = 643 (the neighbours cancel).
  EXPECT_NEAR(rows[0].mean, 643.0, 1e-9);
  // New label values get a default description.
  EXPECT_EQ(s.describe(3).name, "Label 3");
  ASSERT_EQ(s.label_table().size(), 1u);

  EXPECT_TRUE(s.undo());
  EXPECT_EQ(labels.calls, 2);
  EXPECT_EQ(stats.calls, 2);
  EXPECT_TRUE(s.statistics().empty());
  EXPECT_EQ(s.labels().count_nonzero().item<std::int64_t>(), 0);
  EXPECT_FALSE(s.undo());
  EXPECT_TRUE(s.redo());
  EXPECT_EQ(s.statistics().at(0).voxels, 5);
}

TEST(ScanSession, AiResultIsOneUndoStepAndBundleNamesAreKept) {
  std::vector<models::LabelInfo> bundle{{0, "background", {0, 0, 0}}, {1, "brain", {250, 200, 150}}};
  at::Tensor manual = at::zeros({13, 11, 9}, at::kShort);
  manual[2][2][2] = 1;
  ScanSessionOptions options;
  options.label_table = labels_from_bundle(bundle);
  ScanSession s(ras_scan(), manual, options);
  ASSERT_EQ(s.label_table().size(), 1u);
  EXPECT_EQ(s.label_table()[0].name, "brain");
  EXPECT_EQ(s.label_table()[0].color, (std::array<std::uint8_t, 3>{250, 200, 150}));
  // The overlay draws it in the bundle's colour at the session's opacity.
  EXPECT_EQ(s.overlay().color(1), 0xFFFAC896u);
  EXPECT_EQ(s.overlay().alpha(1), 128);  // 0.5 * 255 = 127.5 -> 128
  s.set_label_description({1, "brain", {250, 200, 150}, false});
  EXPECT_EQ(s.overlay().alpha(1), 0) << "hidden";
  s.set_label_description({1, "brain", {250, 200, 150}, true});
  Counter table;
  s.label_table_changed.connect(table.callback());
  at::Tensor ai = at::zeros({13, 11, 9}, at::kShort);
  ai.slice(0, 4, 8).fill_(1);   // 4 slices of 99 voxels
  ai[10][0][0] = 7;             // a value the bundle does not name
  s.replace_labels(ai);
  EXPECT_EQ(table.calls, 1);
  EXPECT_EQ(s.describe(7).name, "Label 7");
  EXPECT_EQ(s.describe(1).name, "brain");
  EXPECT_EQ(s.statistics().at(0).voxels, 4 * 99);
  EXPECT_EQ(s.editor().history().undo_count(), 1u);
  EXPECT_TRUE(s.undo());
  EXPECT_TRUE(at::equal(s.labels(), manual));
  EXPECT_EQ(s.statistics().at(0).voxels, 1);
}

TEST(ScanSession, ExportsStatisticsWithLabelNamesAndReferenceDice) {
  std::vector<models::LabelInfo> bundle{{1, "brain", {250, 200, 150}}};
  at::Tensor labels = at::zeros({13, 11, 9}, at::kShort);
  labels[0][0].slice(0, 0, 4).fill_(1);  // 4 voxels, intensities 0..3
  ScanSessionOptions options;
  options.label_table = labels_from_bundle(bundle);
  ScanSession s(ras_scan(), labels, options);
  at::Tensor reference = at::zeros({13, 11, 9}, at::kShort);
  reference[0][0].slice(0, 2, 8).fill_(1);  // 6 voxels, 2 shared -> Dice 4 / 10
  Counter stats;
  s.statistics_changed.connect(stats.callback());
  s.set_reference(reference);
  EXPECT_EQ(stats.calls, 1);
  const medseg::test::TempDir dir;
  s.export_statistics_csv(dir / "stats.csv");
  std::ifstream in(dir / "stats.csv");
  std::stringstream text;
  text << in.rdbuf();
  // Mean of 0..3 = 1.5, population SD sqrt(1.25) = 1.118; 4 mm^3 = 0.004 mL.
  EXPECT_EQ(text.str(),
            "label,name,voxels,volume_ml,mean,sd,reference_voxels,dice\n"
            "1,brain,4,0.004000,1.500,1.118,6,0.400000\n");
}

TEST(ScanSession, RefusesDataThatDoesNotFitTheGrid) {
  pipeline::Volume v = ras_scan();
  v.data = at::zeros({13, 11, 8});
  EXPECT_THROW(ScanSession{v}, IoError);
  EXPECT_THROW(ScanSession(ras_scan(), at::zeros({13, 11, 8}, at::kShort)), IoError);
}

}  // namespace
}  // namespace medseg::gui
