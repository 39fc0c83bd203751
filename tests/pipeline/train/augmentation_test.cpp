#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "models/runtime.h"
#include "pipeline/synth/phantom.h"
#include "pipeline/train/augmenter.h"
#include "pipeline/train/batch_loader.h"
#include "pipeline/train/patch_sampler.h"

namespace medseg::pipeline {
namespace {

TrainingCase ramp_case() {
  TrainingCase c;
  c.id = "ramp";
  // value = i + 10 j + 100 k on a 6 x 5 x 4 (i, j, k) grid.
  const at::Tensor k = at::arange(4, at::kFloat).view({4, 1, 1}) * 100;
  const at::Tensor j = at::arange(5, at::kFloat).view({1, 5, 1}) * 10;
  const at::Tensor i = at::arange(6, at::kFloat).view({1, 1, 6});
  c.image = (i + j + k).unsqueeze(0).contiguous();
  c.labels = (c.image[0] > 200).to(at::kShort);
  index_class_locations(c, 2);
  return c;
}

TrainingCase phantom_case(std::uint64_t seed, std::int64_t domain = 0) {
  PhantomOptions o;
  o.size = {40, 40, 40};
  o.seed = seed;
  const Phantom p = make_phantom(o, scanner_profile("clean"));
  TrainingCase c;
  c.id = "p" + std::to_string(seed);
  c.image = p.image.data.unsqueeze(0);
  c.labels = p.labels.data.to(at::kShort);
  c.domain = domain;
  index_class_locations(c, 4);
  return c;
}

AugmentationConfig no_augmentation() {
  AugmentationConfig a;
  a.flip_probability = 0;
  for (auto* p : {&a.rotation, &a.scaling, &a.elastic, &a.gain, &a.offset, &a.contrast, &a.gamma, &a.bias_field,
                  &a.noise, &a.blur, &a.low_resolution, &a.inversion, &a.remap}) {
    p->probability = 0;
  }
  a.gamma_invert_probability = 0;
  return a;
}

TEST(ExtractPatch, CopiesVoxelsAndPadsOutside) {
  const TrainingCase c = ramp_case();
  // Centre (0, 2, 3), patch 2 x 3 x 2: i in [-1, 1), j in [1, 4), k in [2, 4).
  const Patch p = extract_patch(c, {0, 2, 3}, {2, 3, 2});
  EXPECT_EQ(p.image.sizes(), (at::IntArrayRef{1, 2, 3, 2}));
  EXPECT_EQ(p.image[0][0][0][0].item<float>(), 0.0f);               // i = -1: padding
  EXPECT_EQ(p.image[0][0][0][1].item<float>(), 0 + 10 * 1 + 100 * 2);  // (0, 1, 2)
  EXPECT_EQ(p.image[0][1][2][1].item<float>(), 0 + 10 * 3 + 100 * 3);  // (0, 3, 3)
  EXPECT_EQ(p.labels[1][2][1].item<std::int64_t>(), 1);
}

TEST(TransformPatch, IdentityEqualsPlainExtraction) {
  const TrainingCase c = phantom_case(1);
  const Patch a = extract_patch(c, {20, 18, 21}, {16, 12, 8});
  const Patch b = transform_patch(c, {20, 18, 21}, {16, 12, 8}, SpatialParams{});
  EXPECT_TRUE(at::allclose(a.image, b.image, 1e-5, 1e-5));
  EXPECT_TRUE(at::equal(a.labels, b.labels));
}

TEST(TransformPatch, QuarterTurnAboutKSwapsIAndJ) {
  const TrainingCase c = ramp_case();
  SpatialParams sp;
  sp.angles = {0, 0, M_PI / 2};
  // Patch 3 x 3 x 1 centred on (2, 2, 1): output offset (1, 0) reads input
  // offset R (1, 0) = (0, 1), i.e. voxel (2, 3, 1) = 2 + 30 + 100.
  const Patch p = transform_patch(c, {2, 2, 1}, {3, 3, 1}, sp);
  EXPECT_NEAR(p.image[0][0][1][2].item<float>(), 132.0f, 1e-3);
  EXPECT_NEAR(p.image[0][0][1][1].item<float>(), 122.0f, 1e-3);  // centre unchanged
}

TEST(Augmenter, SpatialTransformsMoveImageAndLabelsTogether) {
  TrainingCase c = phantom_case(2);
  c.image = c.labels.to(at::kFloat).unsqueeze(0);  // the image IS the label map
  AugmentationConfig a = no_augmentation();
  a.rotation = {1.0, {-30, 30}};
  a.scaling = {1.0, {0.7, 1.4}};
  a.elastic = {1.0, {1.0, 3.0}};
  a.flip_probability = 0.5;
  const Augmenter aug(a, {24, 24, 24});
  for (std::uint64_t s = 0; s < 5; ++s) {
    Random random(s);
    const Patch p = aug(c, {0, {20, 20, 20}}, random);
    const double agree = (p.image[0].round().to(at::kLong) == p.labels).to(at::kFloat).mean().item<double>();
    EXPECT_GT(agree, 0.93) << "seed " << s;  // disagreement only on interpolated edges
  }
}

TEST(Augmenter, IntensityTransformsNeverTouchLabels) {
  const TrainingCase c = phantom_case(3);
  AugmentationConfig a = no_augmentation();
  for (auto* p : {&a.gain, &a.offset, &a.contrast, &a.gamma, &a.bias_field, &a.noise, &a.blur, &a.low_resolution,
                  &a.inversion, &a.remap}) {
    p->probability = 1.0;
  }
  a.gamma_invert_probability = 0.5;
  a.remap.range = {0.5, 2.0};
  const Augmenter aug(a, {16, 16, 16});
  const Patch plain = extract_patch(c, {20, 20, 20}, {16, 16, 16});
  for (std::uint64_t seed : {7, 8, 9}) {
    Random random(seed);
    const Patch p = aug(c, {0, {20, 20, 20}}, random);
    EXPECT_TRUE(at::equal(p.labels, plain.labels)) << seed;
    EXPECT_FALSE(at::allclose(p.image, plain.image)) << seed;
    EXPECT_TRUE(at::isfinite(p.image).all().item<bool>()) << seed;
  }
}

TEST(Augmenter, IntensityTransformsAreAFunctionOfTheSeed) {
  const TrainingCase c = phantom_case(3);
  AugmentationConfig a = no_augmentation();
  for (auto* p : {&a.gamma, &a.bias_field, &a.noise, &a.inversion, &a.remap}) p->probability = 0.5;
  const Augmenter aug(a, {16, 16, 16});
  const auto image = [&](std::uint64_t seed) {
    Random random(seed);
    return aug(c, {0, {20, 20, 20}}, random).image;
  };
  EXPECT_TRUE(at::equal(image(11), image(11)));
  EXPECT_FALSE(at::equal(image(11), image(12)));
}

TEST(Augmenter, InversionAndRemapAtProbabilityOneChangeTheImageAsTheirFunctions) {
  // With every other transform off, the augmenter's inversion is
  // intensity::invert_body with the drawn weight (here fixed: range [1, 1]).
  const TrainingCase c = phantom_case(3);
  AugmentationConfig a = no_augmentation();
  a.inversion = {1.0, {1.0, 1.0}};
  Random random(3);
  const Patch p = Augmenter(a, {16, 16, 16})(c, {0, {20, 20, 20}}, random);
  at::Tensor expected = extract_patch(c, {20, 20, 20}, {16, 16, 16}).image;
  at::Tensor x = expected[0];
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  const at::Tensor body = x > lo + 0.05 * (hi - lo);
  // The brightest body voxel becomes the darkest body voxel.
  const auto brightest = x.argmax().item<std::int64_t>();
  const at::Tensor out = p.image[0].reshape({-1}).index_select(0, at::where(body.reshape({-1}))[0]);
  EXPECT_NEAR(p.image[0].reshape({-1})[brightest].item<double>(), out.min().item<double>(), 1e-4);
}

TEST(Augmenter, DisabledIsPlainExtraction) {
  const TrainingCase c = phantom_case(4);
  AugmentationConfig a;
  a.enabled = false;
  Random random(1);
  const Patch p = Augmenter(a, {16, 16, 16})(c, {0, {10, 20, 30}}, random);
  EXPECT_TRUE(at::equal(p.image, extract_patch(c, {10, 20, 30}, {16, 16, 16}).image));
}

TEST(PatchSampler, ForcedSamplesAreCentredOnForegroundWithClassBalance) {
  std::vector<TrainingCase> cases{phantom_case(5)};
  const PatchSampler sampler(cases, {16, 16, 16});
  int lesion = 0, n = 300;
  for (int s = 0; s < n; ++s) {
    Random random(s);
    const PatchLocation loc = sampler.sample(random, true);
    const auto& ctr = loc.center;
    const auto label = cases[0].labels[ctr[2]][ctr[1]][ctr[0]].item<int>();
    ASSERT_GT(label, 0);
    lesion += label == 2;
  }
  // Three classes drawn uniformly, although the lesion is the smallest.
  EXPECT_GT(lesion, n / 6);
  EXPECT_LT(lesion, n / 2);
}

TEST(PatchSampler, RandomCentresKeepThePatchInside) {
  std::vector<TrainingCase> cases{phantom_case(6)};
  const PatchSampler sampler(cases, {16, 24, 32});
  for (int s = 0; s < 100; ++s) {
    Random random(s);
    // Patch 16 x 24 x 32 voxels along (i, j, k) in a 40^3 volume.
    const auto c = sampler.sample(random, false).center;
    EXPECT_GE(c[0] - 8, 0);
    EXPECT_LE(c[0] + 8, 40);
    EXPECT_GE(c[1] - 12, 0);
    EXPECT_LE(c[1] + 12, 40);
    EXPECT_GE(c[2] - 16, 0);
    EXPECT_LE(c[2] + 16, 40);
  }
}

TEST(BatchLoader, SameBatchesWithAnyThreadCountAndFromAnyStart) {
  std::vector<TrainingCase> cases{phantom_case(7, 0), phantom_case(8, 1)};
  const PatchSampler sampler(cases, {16, 16, 16});
  const Augmenter augmenter(AugmentationConfig{}, {16, 16, 16});
  BatchLoaderOptions o;
  o.batch_size = 3;
  o.seed = 42;
  o.threads = 0;
  std::vector<Batch> reference;
  {
    BatchLoader serial(sampler, augmenter, o, 0);
    for (int i = 0; i < 6; ++i) reference.push_back(serial.next());
  }
  o.threads = 2;
  o.prefetch = 3;
  BatchLoader parallel(sampler, augmenter, o, 0);
  for (int i = 0; i < 6; ++i) {
    const Batch b = parallel.next();
    EXPECT_EQ(b.index, i);
    EXPECT_TRUE(at::equal(b.image, reference[i].image)) << i;
    EXPECT_TRUE(at::equal(b.labels, reference[i].labels)) << i;
    EXPECT_TRUE(at::equal(b.domains, reference[i].domains)) << i;
  }
  BatchLoader resumed(sampler, augmenter, o, 4);
  EXPECT_TRUE(at::equal(resumed.next().image, reference[4].image));
  EXPECT_EQ(reference[0].image.sizes(), (at::IntArrayRef{3, 1, 16, 16, 16}));
  EXPECT_EQ(reference[0].labels.scalar_type(), at::kLong);
  // The last sample of each batch is centred on foreground.
  for (const auto& b : reference) EXPECT_GT(b.labels[2][8][8][8].item<std::int64_t>(), 0);
}

TEST(BatchLoader, DomainPerBatchDrawsEveryBatchFromOneDomain) {
  std::vector<TrainingCase> cases{phantom_case(7, 0), phantom_case(8, 1), phantom_case(9, 2), phantom_case(10, 1)};
  const PatchSampler sampler(cases, {16, 16, 16});
  EXPECT_EQ(sampler.domains(), (std::vector<std::int64_t>{0, 1, 2}));
  const Augmenter augmenter(no_augmentation(), {16, 16, 16});
  BatchLoaderOptions o;
  o.batch_size = 4;
  o.seed = 3;
  o.domain_per_batch = true;
  std::set<std::int64_t> seen;
  for (std::int64_t index = 0; index < 12; ++index) {
    const Batch b = make_batch(sampler, augmenter, o, index);
    const std::int64_t d = b.domains[0].item<std::int64_t>();
    EXPECT_TRUE(at::equal(b.domains, at::full({4}, d, at::kLong))) << "batch " << index << ": " << b.domains;
    seen.insert(d);
    EXPECT_TRUE(at::equal(b.image, make_batch(sampler, augmenter, o, index).image));  // a function of (seed, n)
  }
  EXPECT_EQ(seen.size(), 3u);
  // Off, the same batch mixes domains.
  o.domain_per_batch = false;
  bool mixed = false;
  for (std::int64_t index = 0; index < 12; ++index) {
    const Batch b = make_batch(sampler, augmenter, o, index);
    mixed = mixed || !at::equal(b.domains, at::full({4}, b.domains[0].item<std::int64_t>(), at::kLong));
  }
  EXPECT_TRUE(mixed);
}

// augmentation.scanner_per_batch: one gain (and one noise level) per batch,
// one per patch without it. The gain is read back as augmented / plain patch,
// the plain patch coming from the same seed without intensity transforms
// (the locations are drawn before any intensity parameter).
TEST(BatchLoader, ScannerPerBatchGivesEveryPatchOfABatchTheSameIntensityTransform) {
  std::vector<TrainingCase> cases{phantom_case(7), phantom_case(8)};
  const PatchSampler sampler(cases, {16, 16, 16});
  const Augmenter plain(no_augmentation(), {16, 16, 16});
  AugmentationConfig gain_only = no_augmentation();
  gain_only.gain = {1.0, {0.5, 2.0}};
  BatchLoaderOptions o;
  o.batch_size = 3;
  o.seed = 9;
  // Gain of each patch of batch `index`.
  const auto gains = [&](const AugmentationConfig& a, std::int64_t index) {
    const at::Tensor reference = make_batch(sampler, plain, o, index).image;
    const at::Tensor augmented = make_batch(sampler, Augmenter(a, {16, 16, 16}), o, index).image;
    std::vector<double> g;
    for (std::int64_t s = 0; s < 3; ++s) {
      const at::Tensor body = reference[s].abs() > 1e-3;
      EXPECT_GT(body.sum().item<std::int64_t>(), 0);
      const at::Tensor ratio = augmented[s].masked_select(body) / reference[s].masked_select(body);
      EXPECT_LT((ratio.max() - ratio.min()).item<double>(), 1e-5);  // a gain, nothing else
      g.push_back(ratio.mean().item<double>());
    }
    return g;
  };
  AugmentationConfig per_batch = gain_only;
  per_batch.scanner_per_batch = true;
  std::set<long> batch_gains;
  for (std::int64_t index = 0; index < 4; ++index) {
    const std::vector<double> g = gains(per_batch, index);
    EXPECT_NEAR(g[1], g[0], 1e-6) << "batch " << index;
    EXPECT_NEAR(g[2], g[0], 1e-6) << "batch " << index;
    EXPECT_GE(g[0], 0.5 - 1e-6);
    EXPECT_LE(g[0], 2.0 + 1e-6);
    batch_gains.insert(std::lround(g[0] * 1e4));
  }
  EXPECT_EQ(batch_gains.size(), 4u);  // a new scanner for every batch
  const std::vector<double> mixed = gains(gain_only, 0);
  EXPECT_GT(std::abs(mixed[1] - mixed[0]) + std::abs(mixed[2] - mixed[0]), 1e-3);

  // Noise: the same level on every patch of a batch, a different field.
  AugmentationConfig noisy = no_augmentation();
  noisy.noise = {1.0, {0.01, 0.1}};
  noisy.scanner_per_batch = true;
  for (std::int64_t index = 0; index < 3; ++index) {
    const at::Tensor noise =
        make_batch(sampler, Augmenter(noisy, {16, 16, 16}), o, index).image - make_batch(sampler, plain, o, index).image;
    const double std0 = noise[0].std().item<double>();
    const at::Tensor centred0 = noise[0] - noise[0].mean(), centred1 = noise[1] - noise[1].mean();
    const double correlation =
        (centred0 * centred1).sum().item<double>() / (centred0.norm() * centred1.norm()).item<double>();
    EXPECT_LT(std::abs(correlation), 0.2) << "batch " << index << ": the same noise field twice";
    EXPECT_NEAR(noise[1].std().item<double>() / std0, 1.0, 0.05) << "batch " << index;
    EXPECT_NEAR(noise[2].std().item<double>() / std0, 1.0, 0.05) << "batch " << index;
  }
}

// Data-parallel training: ranks with batch B together draw exactly the batch
// one process with batch W * B draws, so their mean gradient is its gradient.
TEST(BatchLoader, RanksShareTheGlobalBatchExactly) {
  std::vector<TrainingCase> cases{phantom_case(7, 0), phantom_case(8, 1)};
  const PatchSampler sampler(cases, {16, 16, 16});
  BatchLoaderOptions one;
  one.batch_size = 6;
  one.seed = 5;
  one.foreground_fraction = 0.5;
  for (const bool scanner_per_batch : {false, true}) {
  AugmentationConfig a;
  a.scanner_per_batch = scanner_per_batch;  // one scanner for the global batch, not one per rank
  const Augmenter augmenter(a, {16, 16, 16});
  for (std::int64_t index : {0, 3}) {
    const Batch global = make_batch(sampler, augmenter, one, index);
    for (std::int64_t rank = 0; rank < 3; ++rank) {
      BatchLoaderOptions share = one;
      share.batch_size = 2;
      share.world_size = 3;
      share.rank = rank;
      const Batch b = make_batch(sampler, augmenter, share, index);
      const auto rows = [&](const at::Tensor& t) { return t.narrow(0, 2 * rank, 2); };
      EXPECT_TRUE(at::equal(b.image, rows(global.image))) << "batch " << index << ", rank " << rank;
      EXPECT_TRUE(at::equal(b.labels, rows(global.labels))) << "batch " << index << ", rank " << rank;
      EXPECT_TRUE(at::equal(b.domains, rows(global.domains))) << "batch " << index << ", rank " << rank;
    }
  }
  }
}

struct ThreadUse {
  int aten_threads = 0;  // at::get_num_threads() as seen from the thread
  long started = 0;      // threads the process gained during a large ATen op
};

long process_threads() {
  long n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// What a new thread's ATen calls use, after `setup` ran there. (The test's
// own at::parallel_for would be serial: this file is built without OpenMP,
// so the op must be one of LibTorch's own kernels.)
template <typename Setup>
ThreadUse thread_use_in_new_thread(Setup setup) {
  ThreadUse use;
  std::thread t([&] {
    setup();
    use.aten_threads = at::get_num_threads();
    const long before = process_threads();
    const at::Tensor x = at::rand({1 << 22});
    volatile float sink = x.exp().sum().item<float>();
    (void)sink;
    use.started = process_threads() - before;
  });
  t.join();
  return use;
}

TEST(BatchLoader, WorkersRunATenOnOneThreadWhileTrainingUsesAll) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  // A plain new thread opens an OpenMP team as wide as the global count:
  // the oversubscription the loader's workers must not cause.
  const ThreadUse plain = thread_use_in_new_thread([] {});
  const ThreadUse limited = thread_use_in_new_thread([] { models::limit_this_thread_to_one_compute_thread(); });
  const int global_after = at::get_num_threads();
  at::set_num_threads(before);
  EXPECT_EQ(plain.aten_threads, 2);
  EXPECT_GE(plain.started, 1);
  EXPECT_EQ(limited.aten_threads, 1);
  EXPECT_EQ(limited.started, 0);
  EXPECT_EQ(global_after, 2) << "the limit must stay in the worker thread";
}

}  // namespace
}  // namespace medseg::pipeline
