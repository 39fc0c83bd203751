// A run stopped right after a validated epoch and resumed writes model_last
// with the metrics an uninterrupted run's has at the same epoch (they used to
// be empty until the resumed run's next validation).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "models/bundle.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/trainer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {

using test::TempDir;

// Four epochs of six iterations on two 16^3 phantoms; validation after
// epochs 2 and 4 only, so epoch 3's model_last carries epoch 2's metrics.
std::string tiny_config(const std::string& output) {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2, deep_supervision: true}\n"
         "training: {epochs: 4, iterations_per_epoch: 6, batch_size: 2, patch_size: [16, 16, 16], seed: 3, "
         "threads: 2, precision: fp32}\n"
         "validation: {every: 2}\n"
         "output: " + output + "\n";
}

struct Stop {};

// Trains (or resumes) `config_file`; returns model_last's metrics as saved
// after epoch 3, and stops by throwing from on_epoch after `stop_after`.
std::map<std::string, double> metrics_at_epoch_3(const std::filesystem::path& config_file, bool resume,
                                                 std::int64_t stop_after) {
  const TrainConfig config = load_train_config(config_file);
  std::map<std::string, double> seen;
  TrainerCallbacks callbacks;
  callbacks.on_epoch = [&](const EpochRecord& r) {
    if (r.epoch == 3) seen = models::load_bundle(config.output / "model_last").info.provenance.metrics;
    if (r.epoch == stop_after) throw Stop{};
  };
  TrainOptions options;
  options.resume = resume;
  try {
    train(config, options, callbacks);
  } catch (const Stop&) {
  }
  return seen;
}

TEST(TrainerResume, ModelLastKeepsTheMetricsOfTheLastValidation) {
  TempDir dir;
  test::write_text(dir / "a.yaml", tiny_config("run_a"));
  test::write_text(dir / "b.yaml", tiny_config("run_b"));
  const auto uninterrupted = metrics_at_epoch_3(dir / "a.yaml", false, 0);
  ASSERT_EQ(uninterrupted.count("epoch"), 1u);
  EXPECT_EQ(uninterrupted.at("epoch"), 2.0);
  EXPECT_EQ(uninterrupted.size(), 2u + 3u);  // epoch, mean_dice, dice per label 1..3

  EXPECT_TRUE(metrics_at_epoch_3(dir / "b.yaml", false, 2).empty());  // stopped after epoch 2
  const auto resumed = metrics_at_epoch_3(dir / "b.yaml", true, 0);
  ASSERT_EQ(resumed.size(), uninterrupted.size());
  for (const auto& [key, value] : uninterrupted) {
    ASSERT_EQ(resumed.count(key), 1u) << key;
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(resumed.at(key))) << key;
    } else {
      EXPECT_EQ(resumed.at(key), value) << key;
    }
  }
}

}  // namespace
}  // namespace medseg::pipeline
