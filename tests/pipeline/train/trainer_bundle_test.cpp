// What a training config says about the finished model travels into its
// bundle: the `adaptation` section (the threshold, the methods and the check
// that `medseg infer --domain auto` uses for this model).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/bundle.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/trainer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {

using test::TempDir;

// One epoch of two iterations on two 16^3 phantoms.
std::string tiny_config(const std::string& output, const std::string& adaptation) {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2}\n"
         "training: {epochs: 1, iterations_per_epoch: 2, batch_size: 2, patch_size: [16, 16, 16], seed: 3, "
         "threads: 2, precision: fp32}\n"
         "validation: {every: 1}\n" +
         adaptation + "output: " + output + "\n";
}

models::BundleInfo trained_info(const TempDir& dir, const std::string& name, const std::string& adaptation) {
  test::write_text(dir / (name + ".yaml"), tiny_config(name, adaptation));
  train(load_train_config(dir / (name + ".yaml")), TrainOptions{}, TrainerCallbacks{});
  return models::load_bundle(dir / name / "model_last").info;
}

TEST(TrainerBundle, TheConfigsAdaptationSettingsReachTheBundleAndAbsentOnesStayAbsent) {
  TempDir dir;
  const models::BundleInfo with =
      trained_info(dir, "with",
                   "adaptation: {min_change: 0.1, methods: [tent, adabn], check: false, prior_windows: 32, "
                   "prior_strength: 4}\n");
  ASSERT_TRUE(with.adapt_min_change.has_value());
  EXPECT_DOUBLE_EQ(*with.adapt_min_change, 0.1);
  EXPECT_EQ(with.adapt_methods, (std::vector<std::string>{"tent", "adabn"}));
  EXPECT_EQ(with.adapt_check, std::optional<bool>(false));
  EXPECT_EQ(with.adapt_prior_windows, std::optional<std::int64_t>(32));
  EXPECT_EQ(with.adapt_prior_strength, std::optional<double>(4.0));

  const models::BundleInfo without = trained_info(dir, "without", "");
  EXPECT_FALSE(without.adapt_min_change.has_value());
  EXPECT_TRUE(without.adapt_methods.empty());
  EXPECT_FALSE(without.adapt_check.has_value());
  EXPECT_FALSE(without.adapt_prior_windows.has_value());
  EXPECT_FALSE(without.adapt_prior_strength.has_value());
}

}  // namespace
}  // namespace medseg::pipeline
