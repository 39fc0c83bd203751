// training.precise_bn_batches in a real (tiny) training run: the saved
// bundles carry statistics re-estimated over that many batches, the training
// batches and losses are those of a run without it, and a dataset with
// several domains is refused before anything trains.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/bundle.h"
#include "models/domain_batch_norm.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/trainer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {

using test::TempDir;

// Three epochs of four iterations on two 16^3 phantoms of one scanner;
// validation after epochs 2 and 3.
std::string tiny_config(const std::string& output, const std::string& profiles, std::int64_t precise,
                        std::int64_t frozen = 0) {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [" + profiles + "], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2, deep_supervision: true}\n"
         "training: {epochs: 3, iterations_per_epoch: 4, batch_size: 2, patch_size: [16, 16, 16], seed: 3, "
         "threads: 2, precision: fp32, precise_bn_batches: " + std::to_string(precise) +
         ", frozen_bn_epochs: " + std::to_string(frozen) + "}\n"
         "validation: {every: 2}\n"
         "output: " + output + "\n";
}

std::vector<nlohmann::json> log_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::vector<std::int64_t> batches_tracked(const std::filesystem::path& bundle) {
  models::Bundle b = models::load_bundle(bundle);
  std::vector<std::int64_t> tracked;
  for (const auto& m : b.model->modules(true)) {
    if (auto* bn = m->as<models::DomainBatchNormImpl>()) tracked.push_back(bn->num_batches_tracked.item<std::int64_t>());
  }
  return tracked;
}

TEST(TrainerPreciseBatchNorm, BundlesCarryReEstimatedStatisticsAndTrainingIsUnchanged) {
  TempDir dir;
  test::write_text(dir / "plain.yaml", tiny_config("plain", "scanner_a", 0));
  test::write_text(dir / "precise.yaml", tiny_config("precise", "scanner_a", 5));
  train(load_train_config(dir / "plain.yaml"), TrainOptions{}, TrainerCallbacks{});
  train(load_train_config(dir / "precise.yaml"), TrainOptions{}, TrainerCallbacks{});

  // The running average has seen every training batch (12); PreciseBN's
  // estimate the 5 batches it was asked for, in every layer.
  for (std::int64_t t : batches_tracked(dir / "plain" / "model_last")) EXPECT_EQ(t, 12);
  const auto tracked = batches_tracked(dir / "precise" / "model_last");
  ASSERT_FALSE(tracked.empty());
  for (std::int64_t t : tracked) EXPECT_EQ(t, 5);

  const auto plain = log_lines(dir / "plain" / "log.jsonl");
  const auto precise = log_lines(dir / "precise" / "log.jsonl");
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(precise.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    // Running statistics play no part in training-mode batch norm, and
    // PreciseBN draws batches of its own: the same losses, bit for bit.
    EXPECT_EQ(plain[e].at("train_loss").get<double>(), precise[e].at("train_loss").get<double>()) << "epoch " << e + 1;
    EXPECT_FALSE(plain[e].contains("precise_bn_seconds"));
  }
  EXPECT_FALSE(precise[0].contains("precise_bn_seconds"));  // epoch 1 did not validate
  EXPECT_GE(precise[1].at("precise_bn_seconds").get<double>(), 0.0);
  EXPECT_GE(precise[2].at("precise_bn_seconds").get<double>(), 0.0);
}

// The last epoch with frozen batch norm: re-estimated once before it, then
// used, not updated; the epochs before train as without it.
TEST(TrainerPreciseBatchNorm, FrozenLastEpochTrainsWithTheReEstimatedStatistics) {
  TempDir dir;
  test::write_text(dir / "plain.yaml", tiny_config("plain", "scanner_a", 0));
  test::write_text(dir / "frozen.yaml", tiny_config("frozen", "scanner_a", 5, 1));
  train(load_train_config(dir / "plain.yaml"), TrainOptions{}, TrainerCallbacks{});
  train(load_train_config(dir / "frozen.yaml"), TrainOptions{}, TrainerCallbacks{});
  // Updated during epoch 3, the count would be 5 + 4.
  for (std::int64_t t : batches_tracked(dir / "frozen" / "model_last")) EXPECT_EQ(t, 5);
  const auto plain = log_lines(dir / "plain" / "log.jsonl");
  const auto frozen = log_lines(dir / "frozen" / "log.jsonl");
  ASSERT_EQ(frozen.size(), 3u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(plain[e].at("train_loss").get<double>(), frozen[e].at("train_loss").get<double>()) << "epoch " << e + 1;
  }
  EXPECT_NE(plain[2].at("train_loss").get<double>(), frozen[2].at("train_loss").get<double>());
  EXPECT_FALSE(frozen[2].contains("precise_bn_seconds"));  // frozen statistics are not re-estimated again
}

TEST(TrainerPreciseBatchNorm, SeveralDomainsAreRefusedBeforeTraining) {
  TempDir dir;
  test::write_text(dir / "two.yaml", tiny_config("two", "scanner_a, scanner_b", 5));
  try {
    train(load_train_config(dir / "two.yaml"), TrainOptions{}, TrainerCallbacks{});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("training.precise_bn_batches"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2 domains"), std::string::npos) << e.what();
  }
  test::write_text(dir / "two.yaml", tiny_config("two", "scanner_a, scanner_b", 0, 1));
  try {
    train(load_train_config(dir / "two.yaml"), TrainOptions{}, TrainerCallbacks{});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("training.frozen_bn_epochs"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "two" / "model_last"));
}

}  // namespace
}  // namespace medseg::pipeline
