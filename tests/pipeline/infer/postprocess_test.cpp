#include "pipeline/infer/postprocess.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace medseg::pipeline {
namespace {

// Label 1: a 3x3x3 block (27 voxels) and a lone voxel; label 2: a 2x2x2 block
// (8 voxels) and a 2-voxel bar.
Volume islands() {
  Volume v;
  v.geometry.size = {12, 12, 12};
  v.geometry.spacing = {2.0, 1.0, 1.0};  // 2 mm^3 = 0.002 mL per voxel
  v.data = at::zeros({12, 12, 12}, at::kShort);
  v.data.slice(0, 1, 4).slice(1, 1, 4).slice(2, 1, 4).fill_(1);
  v.data[10][10][10] = 1;
  v.data.slice(0, 6, 8).slice(1, 6, 8).slice(2, 6, 8).fill_(2);
  v.data.slice(0, 10, 11).slice(1, 1, 2).slice(2, 1, 3).fill_(2);
  return v;
}

std::int64_t count(const Volume& v, int label) { return (v.data == label).sum().item<std::int64_t>(); }

TEST(Postprocess, KeepLargestComponentPerLabel) {
  PostprocessOptions o;
  o.keep_largest_component = true;
  const Volume out = postprocess_labels(islands(), o);
  EXPECT_EQ(count(out, 1), 27);
  EXPECT_EQ(count(out, 2), 8);
  EXPECT_EQ(out.data.scalar_type(), at::kShort);
}

TEST(Postprocess, RemoveIslandsBelowAVolumeInMillilitres) {
  PostprocessOptions o;
  o.min_island_ml = 0.005;  // 2.5 voxels -> components of 1 and 2 voxels go
  const Volume out = postprocess_labels(islands(), o);
  EXPECT_EQ(count(out, 1), 27);
  EXPECT_EQ(count(out, 2), 8);
  o.min_island_ml = 0.003;  // 1.5 voxels -> only the lone voxel goes
  const Volume out2 = postprocess_labels(islands(), o);
  EXPECT_EQ(count(out2, 1), 27);
  EXPECT_EQ(count(out2, 2), 10);
}

TEST(Postprocess, NothingRequestedChangesNothing) {
  const Volume in = islands();
  EXPECT_TRUE(at::equal(postprocess_labels(in, {}).data, in.data));
}

}  // namespace
}  // namespace medseg::pipeline
