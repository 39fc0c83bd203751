#include "pipeline/synth/phantom.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

PhantomOptions small(std::uint64_t seed) {
  PhantomOptions o;
  o.size = {40, 36, 32};
  o.spacing_mm = 3.0;
  o.seed = seed;
  return o;
}

// The lesion lies inside the organ: no lesion voxel on the volume border,
// and each of its 6 neighbours is lesion or organ (never background or the
// box). The box touches the organ: some box voxel has an organ neighbour.
void expect_lesion_inside_organ_and_box_touching_it(const Phantom& p) {
  const at::Tensor labels = p.labels.data;
  const at::Tensor lesion = labels == 2;
  const at::Tensor organ_or_lesion = (labels == 1) | lesion;
  const at::Tensor box = labels == 3;
  std::int64_t outside = 0, box_next_to_organ = 0;
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t n = labels.size(axis);
    EXPECT_FALSE(lesion.select(axis, 0).any().item<bool>()) << "axis " << axis;
    EXPECT_FALSE(lesion.select(axis, n - 1).any().item<bool>()) << "axis " << axis;
    for (const auto& [from, to] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {1, 0}}) {
      // Voxel pairs (v, its neighbour along axis): v in [from, from + n - 1).
      const at::Tensor here = lesion.narrow(axis, from, n - 1);
      const at::Tensor next = organ_or_lesion.narrow(axis, to, n - 1);
      outside += (here & ~next).sum().item<std::int64_t>();
      box_next_to_organ += (box.narrow(axis, from, n - 1) & (labels == 1).narrow(axis, to, n - 1))
                               .sum()
                               .item<std::int64_t>();
    }
  }
  EXPECT_EQ(outside, 0) << "lesion voxels with a neighbour outside the organ";
  EXPECT_GT(box_next_to_organ, 0);
}

TEST(Phantom, SameSeedSameVolume) {
  const auto profile = scanner_profile("scanner_b");
  const Phantom a = make_phantom(small(7), profile);
  const Phantom b = make_phantom(small(7), profile);
  EXPECT_TRUE(at::equal(a.image.data, b.image.data));
  EXPECT_TRUE(at::equal(a.labels.data, b.labels.data));
}

TEST(Phantom, DifferentSeedsDifferentShapes) {
  const auto profile = scanner_profile("clean");
  EXPECT_FALSE(at::equal(make_phantom(small(1), profile).labels.data,
                         make_phantom(small(2), profile).labels.data));
}

TEST(Phantom, HoldsEveryLabelWithLesionInsideOrgan) {
  const Phantom p = make_phantom(small(3), scanner_profile("clean"));
  for (int label = 1; label <= kPhantomLabels; ++label) {
    EXPECT_GT((p.labels.data == label).sum().item<std::int64_t>(), 20) << "label " << label;
  }
  EXPECT_EQ(p.labels.data.max().item<float>(), 3.0f);
  EXPECT_EQ(p.labels.data.sizes(), (at::IntArrayRef{32, 36, 40}));
  // Each seed places the shapes anew: check the nesting over several.
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    expect_lesion_inside_organ_and_box_touching_it(seed == 3 ? p : make_phantom(small(seed), scanner_profile("clean")));
  }
}

TEST(Phantom, ProfilesChangeIntensitiesNeverLabels) {
  const Phantom clean = make_phantom(small(11), scanner_profile("clean"));
  for (const auto& name : scanner_profile_names()) {
    SCOPED_TRACE(name);
    const Phantom p = make_phantom(small(11), scanner_profile(name));
    EXPECT_TRUE(at::equal(p.labels.data, clean.labels.data));
    if (name != "clean") {
      EXPECT_FALSE(at::allclose(p.image.data, clean.image.data));
    }
  }
}

TEST(Phantom, CleanProfileGivesTheTissueValues) {
  const Phantom p = make_phantom(small(5), scanner_profile("clean"));
  // No noise, bias or blur: the organ is exactly 0.65, the lesion 0.95.
  const at::Tensor organ = p.image.data.masked_select(p.labels.data == 1);
  const at::Tensor lesion = p.image.data.masked_select(p.labels.data == 2);
  EXPECT_TRUE(at::allclose(organ, at::full_like(organ, 0.65f)));
  EXPECT_TRUE(at::allclose(lesion, at::full_like(lesion, 0.95f)));
}

TEST(Phantom, InvertingScannerReversesOrganLesionContrast) {
  const Phantom a = make_phantom(small(5), scanner_profile("scanner_a"));
  const Phantom c = make_phantom(small(5), scanner_profile("scanner_c"));
  const auto mean_of = [](const Phantom& p, int label) {
    return p.image.data.masked_select(p.labels.data == label).mean().item<float>();
  };
  EXPECT_GT(mean_of(a, 2), mean_of(a, 1));  // lesion brighter than organ
  EXPECT_LT(mean_of(c, 2), mean_of(c, 1));  // inverted: lesion darker
}

TEST(Phantom, GainAndOffsetScaleIntensities) {
  ScannerProfile linear;
  linear.name = "linear";
  linear.gain = 100.0;
  linear.offset = -7.0;
  const Phantom clean = make_phantom(small(4), scanner_profile("clean"));
  const Phantom scaled = make_phantom(small(4), linear);
  EXPECT_TRUE(at::allclose(scaled.image.data, clean.image.data * 100.0f - 7.0f, 1e-5, 1e-3));
}

TEST(Phantom, RejectsBadOptions) {
  PhantomOptions o = small(0);
  o.size[1] = 4;
  EXPECT_THROW(make_phantom(o, scanner_profile("clean")), ConfigError);
  EXPECT_THROW(scanner_profile("scanner_z"), ConfigError);
}

}  // namespace
}  // namespace medseg::pipeline
