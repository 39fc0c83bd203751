// Slice pixels: window/level grey with label colours blended on top, values
// worked out by hand from the documented formulas.
#include "app/gui/logic/slice_renderer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/app/gui/test_volumes.h"

namespace medseg::gui {
namespace {

TEST(SliceRenderer, BlendsVisibleLabelColoursOverWindowedGrey) {
  // LPS 3 x 2 x 1: axial pixel (u, v) is voxel (i, j) = (u, v).
  const SliceGeometry g(test::lps_geometry({3, 2, 1}, {1, 1, 1}));
  const std::vector<float> scan{40, 20, 80, 0, 10, 100};  // [j][i]
  const std::vector<std::int16_t> labels{1, 2, 5, 0, 1, 0};
  LabelDescription red{1, "red", {255, 0, 0}, true};
  LabelDescription hidden{2, "hidden", {0, 255, 0}, false};
  const LabelOverlay overlay({red, hidden}, 0.5);  // alpha round(127.5) = 128
  EXPECT_EQ(overlay.alpha(1), 128);
  SliceRenderer r;
  std::vector<std::uint32_t> out(6, 0);
  r.render(g, ViewKind::kAxial, 0, scan.data(), labels.data(), WindowLevel(80, 40), overlay, out.data());
  // Grey (W 80, L 40): 40 -> 128, 20 -> 64, 80 -> 255, 0 -> 0, 10 -> 32,
  // 100 -> 255.
  // (0,0): grey 128 under red at 128: r = (128*127 + 255*128 + 127) / 255
  // = 49023 / 255 = 192, g = b = (128*127 + 127) / 255 = 64.
  EXPECT_EQ(out[0], 0xFFC04040u);
  EXPECT_EQ(out[1], 0xFF404040u) << "invisible label: grey 64 only";
  EXPECT_EQ(out[2], 0xFFFFFFFFu) << "label without description: not drawn";
  EXPECT_EQ(out[3], 0xFF000000u);
  // (1,1): grey 32 under red: r = (32*127 + 32640 + 127) / 255 = 144,
  // g = b = (4064 + 127) / 255 = 16.
  EXPECT_EQ(out[4], 0xFF901010u);
  EXPECT_EQ(out[5], 0xFFFFFFFFu);

  // Opaque overlay covers the scan; no label map draws grey only.
  r.render(g, ViewKind::kAxial, 0, scan.data(), labels.data(), WindowLevel(80, 40), LabelOverlay({red}, 1.0),
           out.data());
  EXPECT_EQ(out[0], 0xFFFF0000u);
  r.render(g, ViewKind::kAxial, 0, scan.data(), nullptr, WindowLevel(80, 40), LabelOverlay({red}, 1.0), out.data());
  EXPECT_EQ(out[0], 0xFF808080u);
  EXPECT_EQ(out[4], 0xFF202020u);
}

}  // namespace
}  // namespace medseg::gui
