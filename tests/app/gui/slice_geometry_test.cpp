// Slice views in patient orientation whatever the storage order. Every
// expectation is written in patient terms (where a marker left-anterior-
// superior of the centre must appear on screen) and derived by hand, never
// from the code's own output.
#include "app/gui/logic/slice_geometry.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/app/gui/test_volumes.h"

namespace medseg::gui {
namespace {

using test::centred_geometry;

constexpr double kC20 = 0.93969262078590838;  // cos 20°
constexpr double kS20 = 0.34202014332566871;  // sin 20°

// A 9 x 11 x 13 grid (1 mm voxels) whose centre voxel (4, 5, 6) sits at the
// world origin, holding one bright voxel where the patient position
// (3 mm Left, 3 mm Anterior, 3 mm Superior) = LPS (+3, -3, +3) falls.
struct StorageCase {
  std::string name;
  std::array<double, 9> direction;  // row-major LPS, column c = axis c
  std::string code;                 // expected orientation code
  std::array<std::int64_t, 3> marker;  // voxel of the marker, by hand
  // Voxel counts along patient L/R, A/P, S/I (by hand from the direction).
  std::int64_t extent_lr, extent_ap, extent_si;
  bool axis_aligned;  // the marker is exactly 3 voxels from the centre
};

std::vector<StorageCase> storage_cases() {
  return {
      // ITK/DICOM order: i -> L, j -> P, k -> S. Marker (4+3, 5-3, 6+3).
      {"LPS", {1, 0, 0, 0, 1, 0, 0, 0, 1}, "LPS", {7, 2, 9}, 9, 11, 13, true},
      // NIfTI identity affine: i -> R, j -> A, k -> S. Left = lower i,
      // anterior = higher j: marker (4-3, 5+3, 6+3).
      {"RAS", {-1, 0, 0, 0, -1, 0, 0, 0, 1}, "RAS", {1, 8, 9}, 9, 11, 13, true},
      // Sagittal-stored: i -> A, j -> I, k -> L (columns (0,-1,0),
      // (0,0,-1), (1,0,0)). Anterior = higher i, superior = lower j, left =
      // higher k: marker (4+3, 5-3, 6+3); extents L/R = 13 (k), A/P = 9 (i),
      // S/I = 11 (j).
      {"sagittal-stored AIL", {0, 0, 1, -1, 0, 0, 0, -1, 0}, "AIL", {7, 2, 9}, 13, 9, 11, true},
      // LPS rotated 20° about S/I: columns (c, s, 0), (-s, c, 0), (0, 0, 1).
      // Voxel offset = R^T (3, -3, 3) = (3c - 3s, -3s - 3c, 3) = (1.79,
      // -3.85, 3) -> nearest (2, -4, 3): marker (6, 1, 9), whose world
      // position R (2, -4, 3) = (3.25, -3.08, 3) is still left-anterior-
      // superior.
      {"LPS rotated 20° about S/I",
       {kC20, -kS20, 0, kS20, kC20, 0, 0, 0, 1}, "LPS", {6, 1, 9}, 9, 11, 13, false},
      // RAS tilted 20° about L/R (a gantry-tilt-like grid): columns (-1, 0,
      // 0), (0, -c, -s), (0, -s, c). Offset = D^T (3, -3, 3) = (-3, 3c - 3s,
      // 3s + 3c) = (-3, 1.79, 3.85) -> (-3, 2, 4): marker (1, 7, 10), world
      // (3, -3.25, 3.08).
      {"RAS tilted 20° about L/R",
       {-1, 0, 0, 0, -kC20, -kS20, 0, -kS20, kC20}, "RAS", {1, 7, 10}, 9, 11, 13, false},
  };
}

pipeline::Volume marker_volume(const StorageCase& c) {
  pipeline::Volume v = test::zero_volume(centred_geometry({9, 11, 13}, {1, 1, 1}, c.direction, {4, 5, 6}));
  v.data[c.marker[2]][c.marker[1]][c.marker[0]] = 1000.0f;
  return v;
}

struct Pixel {
  std::int64_t u, v;
};

// The one bright pixel of the view's slice through the marker.
Pixel bright_pixel(const SliceGeometry& g, ViewKind kind, const pipeline::Volume& volume,
                   const std::array<std::int64_t, 3>& marker) {
  const ViewMapping& m = g.view(kind);
  std::vector<float> slice(static_cast<std::size_t>(m.width * m.height), -1.0f);
  g.extract_slice(kind, g.slice_of(kind, marker), volume.data.data_ptr<float>(), slice.data());
  Pixel found{-1, -1};
  int bright = 0;
  for (std::int64_t v = 0; v < m.height; ++v) {
    for (std::int64_t u = 0; u < m.width; ++u) {
      const float x = slice[static_cast<std::size_t>(v * m.width + u)];
      EXPECT_TRUE(x == 0.0f || x == 1000.0f) << "unwritten or foreign value " << x;
      if (x == 1000.0f) {
        found = {u, v};
        ++bright;
      }
    }
  }
  EXPECT_EQ(bright, 1) << view_name(kind);
  return found;
}

// Where the marker must appear, in patient terms: +1 = screen right / down.
struct Expected {
  ViewKind kind;
  int du, dv;  // sign of (u - centre), (v - centre)
  std::int64_t width, height;
  char left, right, top, bottom;
};

std::vector<Expected> expected_views(const StorageCase& c, DisplayConvention convention) {
  // Radiological: patient left on screen right (du = +1) in axial and
  // coronal; anterior up in axial, superior up in coronal and sagittal;
  // sagittal shows anterior on the left (du = -1) in both conventions.
  const bool radiological = convention == DisplayConvention::kRadiological;
  const int lr = radiological ? +1 : -1;
  const char l = radiological ? 'R' : 'L', r = radiological ? 'L' : 'R';
  return {
      {ViewKind::kAxial, lr, -1, c.extent_lr, c.extent_ap, l, r, 'A', 'P'},
      {ViewKind::kCoronal, lr, -1, c.extent_lr, c.extent_si, l, r, 'S', 'I'},
      {ViewKind::kSagittal, -1, -1, c.extent_ap, c.extent_si, 'A', 'P', 'S', 'I'},
  };
}

int sign(double x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }

void check_views(const StorageCase& c, DisplayConvention convention) {
  const pipeline::Volume volume = marker_volume(c);
  const SliceGeometry g(volume.geometry, convention);
  EXPECT_EQ(g.orientation_code(), c.code);
  for (const Expected& e : expected_views(c, convention)) {
    SCOPED_TRACE(c.name + ", " + view_name(e.kind) +
                 (convention == DisplayConvention::kRadiological ? ", radiological" : ", neurological"));
    const ViewMapping& m = g.view(e.kind);
    EXPECT_EQ(m.width, e.width);
    EXPECT_EQ(m.height, e.height);
    EXPECT_EQ(m.left, e.left);
    EXPECT_EQ(m.right, e.right);
    EXPECT_EQ(m.top, e.top);
    EXPECT_EQ(m.bottom, e.bottom);
    const Pixel p = bright_pixel(g, e.kind, volume, c.marker);
    // Odd extents: the centre pixel is ((W - 1) / 2, (H - 1) / 2).
    const std::int64_t cu = (m.width - 1) / 2, cv = (m.height - 1) / 2;
    EXPECT_EQ(sign(static_cast<double>(p.u - cu)), e.du) << "marker at u=" << p.u << ", centre " << cu;
    EXPECT_EQ(sign(static_cast<double>(p.v - cv)), e.dv) << "marker at v=" << p.v << ", centre " << cv;
    if (c.axis_aligned) {
      EXPECT_EQ(p.u, cu + 3 * e.du);
      EXPECT_EQ(p.v, cv + 3 * e.dv);
    }
  }
}

TEST(SliceGeometry, MarkerLandsInPatientQuadrantForEveryStorageOrderRadiological) {
  for (const StorageCase& c : storage_cases()) check_views(c, DisplayConvention::kRadiological);
}

TEST(SliceGeometry, NeurologicalConventionMirrorsLeftRightOnly) {
  for (const StorageCase& c : storage_cases()) check_views(c, DisplayConvention::kNeurological);
  // Switching an existing geometry gives the same as constructing it so.
  const StorageCase c = storage_cases()[1];
  SliceGeometry g(marker_volume(c).geometry);
  // RAS i points Right: radiological u grows toward Left, against i.
  EXPECT_TRUE(g.view(ViewKind::kAxial).x_flipped);
  g.set_convention(DisplayConvention::kNeurological);
  EXPECT_FALSE(g.view(ViewKind::kAxial).x_flipped);
  EXPECT_EQ(g.view(ViewKind::kAxial).left, 'L');
  EXPECT_EQ(g.view(ViewKind::kCoronal).right, 'R');
  EXPECT_EQ(g.view(ViewKind::kSagittal).left, 'A');
}

TEST(SliceGeometry, RasTopLeftAxialPixelIsPatientRightAnteriorCorner) {
  // RAS: i grows toward the patient's Right, j toward Anterior. Screen-left
  // (radiological) is the patient's right = the largest i; top is anterior
  // = the largest j. So pixel (0, 0) is voxel (8, 10, slice).
  const SliceGeometry g(centred_geometry({9, 11, 13}, {1, 1, 1}, {-1, 0, 0, 0, -1, 0, 0, 0, 1}, {4, 5, 6}));
  const auto voxel = g.screen_to_voxel(ViewKind::kAxial, 0, 0, 3);
  EXPECT_DOUBLE_EQ(voxel[0], 8);
  EXPECT_DOUBLE_EQ(voxel[1], 10);
  EXPECT_DOUBLE_EQ(voxel[2], 3);
  // Coronal pixel (0, 0): patient right (i = 8), superior (k = 12).
  const auto cor = g.screen_to_voxel(ViewKind::kCoronal, 0, 0, 5);
  EXPECT_DOUBLE_EQ(cor[0], 8);
  EXPECT_DOUBLE_EQ(cor[1], 5);
  EXPECT_DOUBLE_EQ(cor[2], 12);
  // Sagittal pixel (0, 0): anterior (j = 10), superior (k = 12).
  const auto sag = g.screen_to_voxel(ViewKind::kSagittal, 0, 0, 4);
  EXPECT_DOUBLE_EQ(sag[0], 4);
  EXPECT_DOUBLE_EQ(sag[1], 10);
  EXPECT_DOUBLE_EQ(sag[2], 12);
}

TEST(SliceGeometry, VoxelScreenRoundTripIsABijectionInEveryView) {
  for (const StorageCase& c : storage_cases()) {
    for (DisplayConvention conv : {DisplayConvention::kRadiological, DisplayConvention::kNeurological}) {
      const SliceGeometry g(marker_volume(c).geometry, conv);
      for (ViewKind kind : {ViewKind::kAxial, ViewKind::kCoronal, ViewKind::kSagittal}) {
        const ViewMapping& m = g.view(kind);
        std::vector<int> hits(static_cast<std::size_t>(m.width * m.height), 0);
        const std::int64_t slice = 2;
        for (std::int64_t k = 0; k < 13; ++k) {
          for (std::int64_t j = 0; j < 11; ++j) {
            for (std::int64_t i = 0; i < 9; ++i) {
              const std::array<std::int64_t, 3> voxel{i, j, k};
              if (g.slice_of(kind, voxel) != slice) continue;
              const auto s = g.voxel_to_screen(kind, {double(i), double(j), double(k)});
              ASSERT_GE(s[0], 0);
              ASSERT_LT(s[0], m.width);
              ASSERT_GE(s[1], 0);
              ASSERT_LT(s[1], m.height);
              ++hits[static_cast<std::size_t>(s[1] * m.width + s[0])];
              const auto back = g.screen_to_voxel(kind, s[0], s[1], double(slice));
              EXPECT_EQ(back, (std::array<double, 3>{double(i), double(j), double(k)}));
            }
          }
        }
        for (int h : hits) EXPECT_EQ(h, 1) << c.name << " " << view_name(kind) << ": every pixel shows one voxel";
      }
    }
  }
  // Sub-voxel positions round-trip too (the mouse is not on voxel centres).
  const SliceGeometry g(centred_geometry({9, 11, 13}, {1, 1, 1}, {-1, 0, 0, 0, -1, 0, 0, 0, 1}, {4, 5, 6}));
  const auto s = g.voxel_to_screen(ViewKind::kCoronal, {2.25, 7.0, 3.5});
  EXPECT_DOUBLE_EQ(s[0], 8 - 2.25);  // i flipped (RAS i points Right)
  EXPECT_DOUBLE_EQ(s[1], 12 - 3.5);  // k flipped (superior up)
}

TEST(SliceGeometry, PhysicalAspectFollowsSpacingOfTheScreenAxes) {
  // LPS, spacing i 0.5, j 0.8, k 3 mm: axial shows i x j, coronal i x k,
  // sagittal j x k.
  const SliceGeometry lps(test::lps_geometry({4, 5, 6}, {0.5, 0.8, 3.0}));
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kAxial).pixel_width_mm, 0.5);
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kAxial).pixel_height_mm, 0.8);
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kCoronal).pixel_width_mm, 0.5);
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kCoronal).pixel_height_mm, 3.0);
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kSagittal).pixel_width_mm, 0.8);
  EXPECT_DOUBLE_EQ(lps.view(ViewKind::kSagittal).pixel_height_mm, 3.0);
  EXPECT_EQ(lps.view(ViewKind::kSagittal).slice_count, 4);
  // Sagittal-stored (i -> A, j -> I, k -> L) with spacing i 0.7, j 0.9,
  // k 4: axial shows L/R (k, 4 mm) x A/P (i, 0.7 mm).
  pipeline::Geometry sag = test::lps_geometry({4, 5, 6}, {0.7, 0.9, 4.0});
  sag.direction = {0, 0, 1, -1, 0, 0, 0, -1, 0};
  const SliceGeometry g(sag);
  EXPECT_DOUBLE_EQ(g.view(ViewKind::kAxial).pixel_width_mm, 4.0);
  EXPECT_DOUBLE_EQ(g.view(ViewKind::kAxial).pixel_height_mm, 0.7);
  EXPECT_DOUBLE_EQ(g.view(ViewKind::kCoronal).pixel_height_mm, 0.9);
  EXPECT_EQ(g.view(ViewKind::kSagittal).slice_count, 6);
}

TEST(SliceGeometry, VoxelToPatientMillimetresAndBack) {
  pipeline::Geometry lps = test::lps_geometry({4, 5, 6}, {0.5, 0.8, 3.0});
  lps.origin = {10, 20, 30};
  const SliceGeometry g(lps);
  // origin + (2 * 0.5, 3 * 0.8, 4 * 3) = (11, 22.4, 42).
  const auto mm = g.voxel_to_patient({2, 3, 4});
  EXPECT_NEAR(mm[0], 11.0, 1e-12);
  EXPECT_NEAR(mm[1], 22.4, 1e-12);
  EXPECT_NEAR(mm[2], 42.0, 1e-12);
  const auto back = g.patient_to_voxel({11.0, 22.4, 42.0});
  EXPECT_NEAR(back[0], 2, 1e-12);
  EXPECT_NEAR(back[1], 3, 1e-12);
  EXPECT_NEAR(back[2], 4, 1e-12);
  // RAS: voxel (1, 0, 0) is 0.5 mm to the patient's right: LPS x decreases.
  pipeline::Geometry ras = lps;
  ras.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  const auto r = SliceGeometry(ras).voxel_to_patient({1, 0, 0});
  EXPECT_NEAR(r[0], 9.5, 1e-12);
  // The oblique marker case: the marker voxel sits where the test claims.
  const StorageCase tilted = storage_cases()[4];
  const SliceGeometry t(marker_volume(tilted).geometry);
  const auto w = t.voxel_to_patient({1, 7, 10});  // offsets (-3, 2, 4) from the centre
  EXPECT_NEAR(w[0], 3.0, 1e-9);
  EXPECT_NEAR(w[1], -2 * kC20 - 4 * kS20, 1e-9);
  EXPECT_NEAR(w[2], -2 * kS20 + 4 * kC20, 1e-9);
  const auto v = t.patient_to_voxel(w);
  EXPECT_NEAR(v[0], 1, 1e-9);
  EXPECT_NEAR(v[1], 7, 1e-9);
  EXPECT_NEAR(v[2], 10, 1e-9);
}

TEST(SliceGeometry, ExtractedSlicesHoldTheRightVoxelsInScreenOrder) {
  // Every voxel holds a code 10000 k + 100 j + i, so each extracted value
  // names the voxel it came from.
  const pipeline::Geometry lps = test::lps_geometry({4, 5, 6}, {1, 1, 1});
  const at::Tensor codes =
      (at::arange(6).view({6, 1, 1}) * 10000 + at::arange(5).view({1, 5, 1}) * 100 + at::arange(4).view({1, 1, 4}))
          .to(at::kFloat)
          .contiguous();
  auto code = [](std::int64_t i, std::int64_t j, std::int64_t k) { return float(10000 * k + 100 * j + i); };
  {
    // LPS axial, slice k = 3: u = i (L on the right), v = j (P at the bottom).
    const SliceGeometry g(lps);
    std::vector<float> out(4 * 5);
    g.extract_slice(ViewKind::kAxial, 3, codes.data_ptr<float>(), out.data());
    for (std::int64_t v = 0; v < 5; ++v) {
      for (std::int64_t u = 0; u < 4; ++u) EXPECT_EQ(out[static_cast<std::size_t>(v * 4 + u)], code(u, v, 3));
    }
    // LPS sagittal, slice i = 2: u = j (P on the right), v = 5 - k
    // (superior, the largest k, at the top).
    std::vector<float> sag(5 * 6);
    g.extract_slice(ViewKind::kSagittal, 2, codes.data_ptr<float>(), sag.data());
    for (std::int64_t v = 0; v < 6; ++v) {
      for (std::int64_t u = 0; u < 5; ++u) EXPECT_EQ(sag[static_cast<std::size_t>(v * 5 + u)], code(2, u, 5 - v));
    }
    EXPECT_THROW(g.extract_slice(ViewKind::kSagittal, 4, codes.data_ptr<float>(), sag.data()), IoError);
    EXPECT_THROW(g.extract_slice(ViewKind::kAxial, -1, codes.data_ptr<float>(), out.data()), IoError);
  }
  {
    // RAS axial, slice k = 1: both in-plane axes flipped.
    pipeline::Geometry ras = lps;
    ras.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
    const SliceGeometry g(ras);
    std::vector<float> out(4 * 5);
    g.extract_slice(ViewKind::kAxial, 1, codes.data_ptr<float>(), out.data());
    for (std::int64_t v = 0; v < 5; ++v) {
      for (std::int64_t u = 0; u < 4; ++u) EXPECT_EQ(out[static_cast<std::size_t>(v * 4 + u)], code(3 - u, 4 - v, 1));
    }
    // RAS coronal, slice j = 2: u = 3 - i, v = 5 - k; int16 label maps
    // use the same code path.
    const at::Tensor labels = (codes.remainder(1000)).to(at::kShort).contiguous();
    std::vector<std::int16_t> cor(4 * 6);
    g.extract_slice(ViewKind::kCoronal, 2, labels.data_ptr<std::int16_t>(), cor.data());
    for (std::int64_t v = 0; v < 6; ++v) {
      for (std::int64_t u = 0; u < 4; ++u) {
        EXPECT_EQ(cor[static_cast<std::size_t>(v * 4 + u)], static_cast<std::int16_t>(200 + (3 - u)));
      }
    }
  }
}

TEST(SliceGeometry, RefusesEmptyGrid) {
  EXPECT_THROW(SliceGeometry(test::lps_geometry({4, 0, 6}, {1, 1, 1})), IoError);
}

}  // namespace
}  // namespace medseg::gui
