// Fold splitting, per-label Dice and config-vs-dataset checks of the
// training data preparation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "pipeline/train/training_data.h"
#include "pipeline/eval/metrics.h"
#include "pipeline/train/validation.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {

TEST(ValidationFold, FoldsPartitionTheCasesEvenlyWhateverTheInputOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 11; ++i) ids.push_back("case_" + std::to_string(i));
  std::vector<std::string> reversed(ids.rbegin(), ids.rend());
  std::multiset<std::string> all;
  for (int fold = 0; fold < 3; ++fold) {
    const auto chosen = validation_fold(ids, 3, fold);
    EXPECT_EQ(chosen, validation_fold(reversed, 3, fold));
    EXPECT_GE(chosen.size(), 3u);
    EXPECT_LE(chosen.size(), 4u);
    all.insert(chosen.begin(), chosen.end());
  }
  EXPECT_EQ(all, std::multiset<std::string>(ids.begin(), ids.end()));
  // A shuffle, not the sorted order dealt out.
  std::vector<std::string> sorted = ids, dealt;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); i += 3) dealt.push_back(sorted[i]);
  EXPECT_NE(validation_fold(ids, 3, 0), dealt);
}

TEST(DicePerLabel, MatchesHandCountedOverlaps) {
  // Label 1: prediction 3 voxels, reference 2, overlap 2 -> 4/5.
  // Label 2: prediction 1, reference 0 -> 0. Label 3: absent in both -> NaN.
  const at::Tensor pred = at::tensor({1, 1, 1, 2, 0, 0}, at::kLong).reshape({1, 2, 3});
  const at::Tensor ref = at::tensor({1, 1, 0, 0, 0, 0}, at::kLong).reshape({1, 2, 3});
  const auto dice = dice_per_label(pred, ref, 4);
  ASSERT_EQ(dice.size(), 3u);
  EXPECT_DOUBLE_EQ(dice[0], 0.8);
  EXPECT_DOUBLE_EQ(dice[1], 0.0);
  EXPECT_TRUE(std::isnan(dice[2]));
}

TrainConfig synthetic_config(const test::TempDir& dir) {
  TrainConfig c;
  c.file = dir / "config.yaml";
  c.output = dir.path();
  c.dataset.synthetic.count = 2;
  c.dataset.synthetic.size = 16;
  c.dataset.synthetic.spacing_mm = 4.0;
  c.dataset.synthetic.profiles = {"scanner_a"};
  c.dataset.num_folds = 2;
  c.dataset.cache = dir / "cache";
  c.training.patch_size = std::array<std::int64_t, 3>{16, 16, 16};
  return c;
}

TEST(PrepareTrainingData, SplitsCasesAndTagsDomains) {
  test::TempDir dir;
  TrainConfig c = synthetic_config(dir);
  c.dataset.synthetic.profiles = {"scanner_a", "scanner_b"};
  const TrainingData data = prepare_training_data(c, {2, 2, 2}, [](const std::string&) {});
  EXPECT_EQ(data.domains, (std::vector<std::string>{"scanner_a", "scanner_b"}));
  EXPECT_EQ(data.training.size() + data.validation.size(), 4u);
  EXPECT_EQ(data.validation.size(), 2u);
  for (const auto& t : data.training) {
    for (const auto& v : data.validation) EXPECT_NE(t.id, v.id);
    EXPECT_EQ(t.domain, t.id.find("scanner_b") != std::string::npos ? 1 : 0) << t.id;
    EXPECT_EQ(t.image.dim(), 4);
    EXPECT_EQ(t.class_locations.size(), 3u);
  }
}

// Multi-domain training on simulated scanners: each training case once per
// profile, each rendering its profile's domain; validation sees the first.
TEST(PrepareTrainingData, SimulatedScannersRenderEveryCaseOncePerProfile) {
  test::TempDir dir;
  TrainConfig c = synthetic_config(dir);
  c.dataset.simulated_scanners.profiles = {"original", "scanner_b", "scanner_c"};
  const TrainingData data = prepare_training_data(c, {2, 2, 2}, [](const std::string&) {});
  EXPECT_EQ(data.domains, (std::vector<std::string>{"original", "scanner_b", "scanner_c"}));
  ASSERT_EQ(data.validation.size(), 1u);
  EXPECT_EQ(data.validation[0].domain, 0);
  ASSERT_EQ(data.training.size(), 3u);  // one training case, three renderings
  const TrainingCase* original = nullptr;
  for (const auto& t : data.training) {
    EXPECT_NE(t.id.rfind(data.validation[0].id, 0), 0u) << "a validation case trained: " << t.id;
    if (t.domain == 0) original = &t;
  }
  ASSERT_NE(original, nullptr);
  const at::Tensor body = original->labels > 0;
  for (const auto& t : data.training) {
    EXPECT_TRUE(at::equal(t.labels, original->labels)) << t.id;  // renderings never move labels
    if (t.domain == 0) continue;
    EXPECT_EQ(t.id, original->id + "_" + data.domains[static_cast<std::size_t>(t.domain)]);
    // Inside the phantom, scanner_b keeps the tissue order, scanner_c
    // (inverted contrast) reverses it.
    const at::Tensor a = original->image[0].masked_select(body), b = t.image[0].masked_select(body);
    const double r = ((a - a.mean()) * (b - b.mean())).mean().item<double>() /
                     (a.std(false) * b.std(false)).item<double>();
    // (scanner_b's blur and noise on a 16^3 phantom keep r near 0.44.)
    if (t.domain == 1) {
      EXPECT_GT(r, 0.3) << t.id;
    }
    if (t.domain == 2) {
      EXPECT_LT(r, -0.3) << t.id;
    }
  }
  // Renderings are files written once: preparing again reuses them.
  EXPECT_TRUE(std::filesystem::exists(dir / "simulated_scanners"));
  const TrainingData again = prepare_training_data(c, {2, 2, 2}, [](const std::string&) {});
  for (std::size_t i = 0; i < again.training.size(); ++i) {
    EXPECT_TRUE(at::equal(again.training[i].image, data.training[i].image));
  }
}

TEST(PrepareTrainingData, SimulatedScannersNeedADatasetFromOneDomain) {
  test::TempDir dir;
  TrainConfig c = synthetic_config(dir);
  c.dataset.synthetic.profiles = {"scanner_a", "scanner_b"};
  c.dataset.simulated_scanners.profiles = {"original", "scanner_c"};
  try {
    prepare_training_data(c, {2, 2, 2}, [](const std::string&) {});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("dataset.simulated_scanners"), std::string::npos) << e.what();
  }
}

TEST(PrepareTrainingData, PatchNotAMultipleOfTheStrideNamesTheKey) {
  test::TempDir dir;
  TrainConfig c = synthetic_config(dir);
  c.training.patch_size = std::array<std::int64_t, 3>{16, 12, 16};
  try {
    prepare_training_data(c, {8, 8, 8}, [](const std::string&) {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'training.patch_size': 12 voxels along j is not a multiple of 8"),
              std::string::npos)
        << e.what();
  }
}

TEST(PrepareTrainingData, UnknownValidationCaseIsAConfigError) {
  test::TempDir dir;
  TrainConfig c = synthetic_config(dir);
  c.dataset.validation_cases = {"no_such_case"};
  EXPECT_THROW(prepare_training_data(c, {2, 2, 2}, [](const std::string&) {}), ConfigError);
}

}  // namespace
}  // namespace medseg::pipeline
