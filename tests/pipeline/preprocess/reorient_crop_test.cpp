#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/orientation.h"
#include "pipeline/preprocess/crop.h"
#include "pipeline/preprocess/reorient.h"

namespace medseg::pipeline {
namespace {

// An oblique grid whose axes point roughly Superior, Right, Anterior ("SRA").
Volume permuted_oblique_volume() {
  Volume v;
  v.geometry.size = {5, 4, 3};
  v.geometry.spacing = {0.5, 1.5, 2.5};
  v.geometry.origin = {10.0, -20.0, 30.0};
  const double c = std::cos(0.2), s = std::sin(0.2);
  // Columns: i -> (s, 0, c) ~ S ; j -> (-c, 0, s) ~ R ; k -> (0, -1, 0) = A.
  v.geometry.direction = {s, -c, 0, 0, 0, -1, c, s, 0};
  v.data = at::arange(60, at::kFloat).reshape({3, 4, 5});
  return v;
}

std::array<double, 3> world_of(const Volume& v, std::int64_t i, std::int64_t j, std::int64_t k) {
  return v.geometry.index_to_world({double(i), double(j), double(k)});
}

TEST(Reorient, ToRasKeepsEveryVoxelAtItsWorldPosition) {
  const Volume v = permuted_oblique_volume();
  ASSERT_EQ(orientation_code(v.geometry.direction), "SRA");
  const Volume r = Reorient("RAS")(v);
  EXPECT_EQ(orientation_code(r.geometry.direction), "RAS");
  EXPECT_EQ(r.geometry.size, (std::array<std::int64_t, 3>{4, 3, 5}));
  // Every new voxel sits where the old voxel with the same value sat.
  for (std::int64_t k = 0; k < r.geometry.size[2]; ++k) {
    for (std::int64_t j = 0; j < r.geometry.size[1]; ++j) {
      for (std::int64_t i = 0; i < r.geometry.size[0]; ++i) {
        const auto value = static_cast<std::int64_t>(r.data[k][j][i].item<float>());
        const std::int64_t oi = value % 5, oj = (value / 5) % 4, ok = value / 20;
        const auto a = world_of(r, i, j, k), b = world_of(v, oi, oj, ok);
        for (int d = 0; d < 3; ++d) ASSERT_NEAR(a[d], b[d], 1e-9);
      }
    }
  }
}

TEST(Reorient, InverseRestoresDataAndGridExactly) {
  const Volume v = permuted_oblique_volume();
  for (const char* code : {"RAS", "LPS", "ASL", "IPR"}) {
    SCOPED_TRACE(code);
    const Volume back = Reorient::inverse(Reorient(code)(v), v.geometry);
    EXPECT_TRUE(at::equal(back.data, v.data));
    EXPECT_EQ(back.geometry.origin, v.geometry.origin);
    EXPECT_EQ(back.geometry.direction, v.geometry.direction);
  }
}

TEST(Reorient, WorksOnChannelsFirstData) {
  Volume v = permuted_oblique_volume();
  v.data = at::stack({v.data, -v.data});
  const Volume r = Reorient("RAS")(v);
  EXPECT_EQ(r.data.sizes(), (at::IntArrayRef{2, 5, 3, 4}));
  EXPECT_TRUE(at::equal(r.data[1], -r.data[0]));
}

TEST(Reorient, RejectsInvalidCodes) {
  EXPECT_THROW(Reorient("RAX"), ConfigError);
  EXPECT_THROW(Reorient("RRS"), ConfigError);
  EXPECT_THROW(Reorient("RA"), ConfigError);
}

TEST(Crop, BoundingBoxOfNonzeroVoxels) {
  at::Tensor data = at::zeros({6, 7, 8});
  data[2][3][4] = 1.0f;
  data[4][1][6] = -2.0f;
  const BoundingBox box = nonzero_bounding_box(data);
  // index i = last dim: 4..6, j: 1..3, k: 2..4 (stop exclusive).
  EXPECT_EQ(box.start, (std::array<std::int64_t, 3>{4, 1, 2}));
  EXPECT_EQ(box.stop, (std::array<std::int64_t, 3>{7, 4, 5}));
  const BoundingBox all = nonzero_bounding_box(at::zeros({2, 3, 4}));
  EXPECT_EQ(all.stop, (std::array<std::int64_t, 3>{4, 3, 2}));
}

TEST(Crop, BoundingBoxMatchesNonzeroIndicesOnRandomSparseVolumes) {
  at::manual_seed(9);
  for (int trial = 0; trial < 20; ++trial) {
    // 3 channels, a few scattered nonzero voxels (one channel may be empty).
    at::Tensor data = at::zeros({3, 9, 10, 11});
    const at::Tensor where = at::rand({3, 9, 10, 11}) < 0.002 * (trial % 4);
    data.masked_fill_(where, -1.5);
    const BoundingBox box = nonzero_bounding_box(data);
    const at::Tensor hits = data.ne(0).any(0).nonzero();  // (n, 3) as (k, j, i)
    if (hits.size(0) == 0) {
      EXPECT_EQ(box.start, (std::array<std::int64_t, 3>{0, 0, 0}));
      EXPECT_EQ(box.stop, (std::array<std::int64_t, 3>{11, 10, 9}));
      continue;
    }
    for (int axis = 0; axis < 3; ++axis) {
      const at::Tensor column = hits.select(1, 2 - axis);
      EXPECT_EQ(box.start[axis], column.min().item<std::int64_t>()) << "trial " << trial << " axis " << axis;
      EXPECT_EQ(box.stop[axis], column.max().item<std::int64_t>() + 1) << "trial " << trial << " axis " << axis;
    }
  }
}

TEST(Crop, CroppedVoxelsKeepWorldPositionAndInverseRestores) {
  Volume v = permuted_oblique_volume();
  v.data.zero_();
  v.data[1][1][2] = 5.0f;
  v.data[2][3][3] = 7.0f;
  const Volume c = CropToNonzero()(v);
  EXPECT_EQ(c.geometry.size, (std::array<std::int64_t, 3>{2, 3, 2}));
  const auto a = world_of(c, 0, 0, 0), b = world_of(v, 2, 1, 1);
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(a[d], b[d], 1e-12);
  EXPECT_EQ(c.data[0][0][0].item<float>(), 5.0f);
  const Volume back = CropToNonzero::inverse(c, v.geometry);
  EXPECT_TRUE(at::equal(back.data, v.data));
  EXPECT_EQ(back.geometry.origin, v.geometry.origin);
}

TEST(CropToNonzero, InverseOfAFullBoxKeepsTheVoxelsWithoutCopying) {
  Volume v;
  v.geometry.size = {4, 3, 2};
  v.geometry.spacing = {0.5, 1.0, 2.0};
  v.geometry.origin = {1.0, 2.0, 3.0};
  v.data = at::arange(24, at::kFloat).reshape({2, 3, 4}) + 1.0f;  // no zero: nothing to crop
  const Volume c = crop(v, nonzero_bounding_box(v.data));
  const Volume back = CropToNonzero::inverse(c, v.geometry);
  EXPECT_TRUE(at::equal(back.data, v.data));
  EXPECT_EQ(back.data.data_ptr(), c.data.data_ptr());
  EXPECT_EQ(back.geometry.origin, v.geometry.origin);
  EXPECT_EQ(back.geometry.size, v.geometry.size);
}

TEST(Crop, InverseRefusesAVolumeOffTheOriginalLattice) {
  Volume v = permuted_oblique_volume();
  Volume c = crop(v, {{1, 1, 1}, {3, 3, 2}});
  c.geometry.origin[0] += 0.1;
  EXPECT_THROW(CropToNonzero::inverse(c, v.geometry), ModelError);
}

}  // namespace
}  // namespace medseg::pipeline
