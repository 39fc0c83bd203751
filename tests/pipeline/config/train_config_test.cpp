#include "pipeline/config/train_config.h"

#include <gtest/gtest.h>

#include "models/error.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;

const char* kMinimal = R"(dataset:
  synthetic: {count: 4, size: 32}
output: out
)";

// Expects loading to fail with a message holding every piece of `parts`.
void expect_config_error(const std::filesystem::path& file, const std::vector<std::string>& parts,
                         const std::vector<std::string>& overrides = {}) {
  try {
    load_train_config(file, overrides);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(TrainConfig, DefaultsAreFilledIn) {
  TempDir dir;
  test::write_text(dir / "c.yaml", kMinimal);
  const TrainConfig c = load_train_config(dir / "c.yaml");
  EXPECT_EQ(c.dataset.synthetic.count, 4);
  EXPECT_EQ(c.dataset.synthetic.profiles.size(), 3u);
  EXPECT_EQ(c.output, dir / "out");
  EXPECT_EQ(c.dataset.cache, dir / "out" / "preprocessed");
  EXPECT_EQ(c.training.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(c.training.momentum, 0.99);
  EXPECT_EQ(c.model.norm, "batch");
  ASSERT_TRUE(c.model.norm_momentum.has_value());
  EXPECT_DOUBLE_EQ(*c.model.norm_momentum, 0.1);
  EXPECT_DOUBLE_EQ(c.augmentation.gamma.range[1], 1.5);
}

TEST(TrainConfig, EffectiveConfigReloadsToTheSameValues) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + R"(model:
  norm: batch_renorm
  norm_momentum: null
  strides: [1, [1, 2, 2], 2, 2]
training:
  patch_size: [32, 48, 64]
  precision: bf16
augmentation:
  gamma: {probability: 0.5, range: [0.8, 1.2]}
)");
  const TrainConfig a = load_train_config(dir / "c.yaml");
  test::write_text(dir / "effective.yaml", to_yaml(a));
  const TrainConfig b = load_train_config(dir / "effective.yaml");
  EXPECT_EQ(to_yaml(a), to_yaml(b));
  EXPECT_FALSE(b.model.norm_momentum.has_value());
  EXPECT_EQ(b.model.strides[1], (std::array<std::int64_t, 3>{1, 2, 2}));
  EXPECT_EQ(*b.training.patch_size, (std::array<std::int64_t, 3>{32, 48, 64}));
  EXPECT_DOUBLE_EQ(b.augmentation.gamma.probability, 0.5);
  EXPECT_EQ(b.training.precision, "bf16");
}

TEST(TrainConfig, UnknownKeyNamesFileKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  epochs: 3\n  learnig_rate: 0.1\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "training.learnig_rate", "line 6", "unknown key"});
}

TEST(TrainConfig, WrongTypeNamesKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  epochs: many\n");
  expect_config_error(dir / "c.yaml", {"training.epochs", "line 5", "expected an integer", "many"});
}

TEST(TrainConfig, OutOfRangeNamesKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "augmentation:\n  gamma:\n    probability: 1.5\n");
  expect_config_error(dir / "c.yaml", {"augmentation.gamma.probability", "line 6", "out of range [0, 1]"});
}

TEST(TrainConfig, MissingDatasetIsAnError) {
  TempDir dir;
  test::write_text(dir / "c.yaml", "output: out\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "dataset", "missing"});
  test::write_text(dir / "d.yaml", "dataset: {source: nowhere/dataset.json}\noutput: out\n");
  expect_config_error(dir / "d.yaml", {"dataset.source", "line 1", "does not exist"});
}

TEST(TrainConfig, SetOverridesApplyAndAreValidated) {
  TempDir dir;
  test::write_text(dir / "c.yaml", kMinimal);
  const TrainConfig c =
      load_train_config(dir / "c.yaml", {"training.epochs=3", "model.norm=group", "augmentation.enabled=false"});
  EXPECT_EQ(c.training.epochs, 3);
  EXPECT_EQ(c.model.norm, "group");
  EXPECT_FALSE(c.augmentation.enabled);
  expect_config_error(dir / "c.yaml", {"training.epochs", "set on the command line", "out of range"},
                      {"training.epochs=0"});
  expect_config_error(dir / "c.yaml", {"training.epoch", "unknown key"}, {"training.epoch=3"});
  expect_config_error(dir / "c.yaml", {"--set", "key.path=value"}, {"training.epochs"});
}

TEST(TrainConfig, EveryShippedConfigLoads) {
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    ++found;
    SCOPED_TRACE(entry.path().string());
    const TrainConfig c = load_train_config(entry.path());
    EXPECT_FALSE(c.output.empty());
  }
  EXPECT_GE(found, 1);
}

TEST(TrainConfig, BadYamlNamesTheLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", "dataset:\n  synthetic: {count: 4\noutput: out\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "line", "invalid YAML"});
}

}  // namespace
}  // namespace medseg::pipeline
