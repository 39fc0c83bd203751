#include "pipeline/config/train_config.h"

#include <gtest/gtest.h>

#include "core/error.h"
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

// The config written as the effective YAML (what a run records) and loaded again.
TrainConfig reloaded(const TempDir& dir, const TrainConfig& config) {
  test::write_text(dir / "effective.yaml", to_yaml(config));
  return load_train_config(dir / "effective.yaml");
}

TEST(TrainConfig, DefaultsAreFilledIn) {
  TempDir dir;
  test::write_text(dir / "c.yaml", kMinimal);
  const TrainConfig c = load_train_config(dir / "c.yaml");
  EXPECT_EQ(c.dataset.synthetic.count, 4);
  EXPECT_EQ(c.dataset.synthetic.profiles.size(), 3u);
  EXPECT_EQ(c.output, dir / "out");
  EXPECT_EQ(c.dataset.cache, dir / "out" / "preprocessed");
  EXPECT_EQ(c.training.optimizer, Optimizer::kSgd);
  EXPECT_EQ(c.training.lr_schedule, LrSchedule::kPoly);
  EXPECT_DOUBLE_EQ(c.training.momentum, 0.99);
  const auto& norm = c.model.architecture.norm();
  EXPECT_EQ(norm.kind(), models::NormKind::kBatch);
  ASSERT_TRUE(norm.momentum().has_value());
  EXPECT_DOUBLE_EQ(*norm.momentum(), 0.1);
  EXPECT_EQ(norm.renorm_warmup_steps(), 100);
  EXPECT_TRUE(c.model.architecture.deep_supervision());
  EXPECT_EQ(c.model.architecture.base_features(), 16);
  EXPECT_DOUBLE_EQ(c.augmentation.gamma.range[1], 1.5);
  EXPECT_EQ(c.training.precision, models::Precision::kAuto);
  EXPECT_FALSE(c.adaptation.min_change.has_value());
  EXPECT_EQ(to_yaml(c).find("adaptation:"), std::string::npos);
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
  const TrainConfig b = reloaded(dir, a);
  EXPECT_EQ(to_yaml(a), to_yaml(b));
  EXPECT_FALSE(b.model.architecture.norm().momentum().has_value());
  EXPECT_EQ(b.model.architecture.norm().kind(), models::NormKind::kBatchRenorm);
  EXPECT_EQ(b.model.architecture.strides()[1], (models::Int3{1, 2, 2}));
  EXPECT_EQ(*b.training.patch_size, (std::array<std::int64_t, 3>{32, 48, 64}));
  EXPECT_DOUBLE_EQ(b.augmentation.gamma.probability, 0.5);
  EXPECT_EQ(b.training.precision, models::Precision::kBf16);
}

// The model's adaptation threshold (written into the bundle by training).
TEST(TrainConfig, AdaptationThresholdLoadsReloadsAndIsRangeChecked) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  min_change: 0.05\n");
  const TrainConfig a = load_train_config(dir / "c.yaml");
  ASSERT_TRUE(a.adaptation.min_change.has_value());
  EXPECT_DOUBLE_EQ(*a.adaptation.min_change, 0.05);
  const TrainConfig b = reloaded(dir, a);
  ASSERT_TRUE(b.adaptation.min_change.has_value());
  EXPECT_DOUBLE_EQ(*b.adaptation.min_change, 0.05);

  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  min_change: 1.2\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "adaptation.min_change", "line 5", "out of range [0, 1]"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  min_change: some\n");
  expect_config_error(dir / "c.yaml", {"adaptation.min_change", "line 5", "some"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  method: adabn\n");
  expect_config_error(dir / "c.yaml", {"adaptation.method", "line 5", "unknown key"});
  test::write_text(dir / "c.yaml", kMinimal);
  expect_config_error(dir / "c.yaml", {"adaptation.min_change", "out of range [0, 1]"}, {"adaptation.min_change=-1"});
}

// The model's default adaptation methods and check (written into the bundle
// by training), each optional on its own.
TEST(TrainConfig, AdaptationPolicyLoadsReloadsAndIsChecked) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  methods: [tent, adabn]\n  check: false\n");
  const TrainConfig a = load_train_config(dir / "c.yaml");
  EXPECT_EQ(a.adaptation.methods, (std::vector<AdaptationMethod>{AdaptationMethod::kTent, AdaptationMethod::kAdaBN}));
  EXPECT_EQ(a.adaptation.check, std::optional<bool>(false));
  EXPECT_FALSE(a.adaptation.min_change.has_value());
  const TrainConfig b = reloaded(dir, a);
  EXPECT_EQ(b.adaptation.methods, a.adaptation.methods);
  EXPECT_EQ(b.adaptation.check, std::optional<bool>(false));
  EXPECT_FALSE(b.adaptation.min_change.has_value());

  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  methods: prior\n");
  const TrainConfig one = load_train_config(dir / "c.yaml");
  EXPECT_EQ(one.adaptation.methods, std::vector<AdaptationMethod>{AdaptationMethod::kPrior});
  EXPECT_FALSE(one.adaptation.check.has_value());
  EXPECT_FALSE(reloaded(dir, one).adaptation.check.has_value());

  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  methods: [prior, bn]\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "adaptation.methods", "line 5", "unknown adaptation method 'bn'"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  methods: [prior, prior]\n");
  expect_config_error(dir / "c.yaml", {"adaptation.methods", "listed twice"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  methods: []\n");
  expect_config_error(dir / "c.yaml", {"adaptation.methods", "at least one"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  check: perhaps\n");
  expect_config_error(dir / "c.yaml", {"adaptation.check", "line 5"});

  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  prior_windows: 48\n  prior_strength: 4\n");
  const TrainConfig p = load_train_config(dir / "c.yaml");
  EXPECT_EQ(p.adaptation.prior_windows, std::optional<std::int64_t>(48));
  EXPECT_EQ(p.adaptation.prior_strength, std::optional<double>(4.0));
  const TrainConfig q = reloaded(dir, p);
  EXPECT_EQ(q.adaptation.prior_windows, std::optional<std::int64_t>(48));
  EXPECT_EQ(q.adaptation.prior_strength, std::optional<double>(4.0));
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  prior_windows: 1\n");
  expect_config_error(dir / "c.yaml", {"adaptation.prior_windows", "line 5", "out of range"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "adaptation:\n  prior_strength: -1\n");
  expect_config_error(dir / "c.yaml", {"adaptation.prior_strength", "line 5", "out of range"});
}

// PreciseBN (training.precise_bn_batches): off by default, reloads, and
// refused where there are no batch-norm statistics or several domains.
TEST(TrainConfig, PreciseBatchNormLoadsReloadsAndIsRefusedWhereItCannotApply) {
  TempDir dir;
  test::write_text(dir / "c.yaml", kMinimal);
  EXPECT_EQ(load_train_config(dir / "c.yaml").training.precise_bn_batches, 0);
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  precise_bn_batches: 40\n");
  const TrainConfig a = load_train_config(dir / "c.yaml");
  EXPECT_EQ(a.training.precise_bn_batches, 40);
  EXPECT_EQ(reloaded(dir, a).training.precise_bn_batches, 40);

  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  precise_bn_batches: -3\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "training.precise_bn_batches", "line 5", "out of range"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  precise_bn_batches: many\n");
  expect_config_error(dir / "c.yaml", {"training.precise_bn_batches", "line 5", "many"});
  test::write_text(dir / "c.yaml",
                   std::string(kMinimal) + "model:\n  norm: {kind: instance}\ntraining:\n  precise_bn_batches: 8\n");
  expect_config_error(dir / "c.yaml", {"training.precise_bn_batches", "line 7", "model.norm.kind is instance"});
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "model:\n  domains: [a, b]\ntraining:\n  precise_bn_batches: 8\n");
  expect_config_error(dir / "c.yaml", {"training.precise_bn_batches", "single-domain"});
  test::write_text(dir / "c.yaml", kMinimal);
  expect_config_error(dir / "c.yaml", {"training.precise_bn_batches", "model.norm.kind is group"},
                      {"model.norm.kind=group", "training.precise_bn_batches=4"});

  // training.frozen_bn_epochs: the last epochs, never all of them.
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  epochs: 10\n  frozen_bn_epochs: 2\n");
  const TrainConfig f = load_train_config(dir / "c.yaml");
  EXPECT_EQ(f.training.frozen_bn_epochs, 2);
  EXPECT_EQ(reloaded(dir, f).training.frozen_bn_epochs, 2);
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  epochs: 10\n  frozen_bn_epochs: 10\n");
  expect_config_error(dir / "c.yaml", {"training.frozen_bn_epochs", "line 6", "fewer than training.epochs (10)"});
  test::write_text(dir / "c.yaml",
                   std::string(kMinimal) + "model:\n  norm: {kind: instance}\ntraining:\n  frozen_bn_epochs: 1\n");
  expect_config_error(dir / "c.yaml", {"training.frozen_bn_epochs", "model.norm.kind is instance"});
}

TEST(TrainConfig, ScannerAugmentationAndSimulatedScannersLoadAndReload) {
  TempDir dir;
  test::write_text(dir / "c.yaml", R"(dataset:
  synthetic: {count: 4, size: 32}
  simulated_scanners: {profiles: [original, scanner_b], seed: 3}
augmentation:
  inversion: {probability: 0.25}
  remap: {probability: 0.5, range: [0.2, 0.6]}
  scanner_per_batch: true
output: out
)");
  const TrainConfig a = load_train_config(dir / "c.yaml");
  EXPECT_TRUE(a.augmentation.scanner_per_batch);
  EXPECT_EQ(a.dataset.simulated_scanners.profiles, (std::vector<std::string>{"original", "scanner_b"}));
  EXPECT_EQ(a.dataset.simulated_scanners.seed, 3);
  EXPECT_TRUE(a.dataset.simulated_scanners.domain_per_batch);
  EXPECT_DOUBLE_EQ(a.augmentation.inversion.probability, 0.25);
  EXPECT_DOUBLE_EQ(a.augmentation.inversion.range[0], 1.0);
  EXPECT_DOUBLE_EQ(a.augmentation.remap.range[1], 0.6);
  EXPECT_EQ(to_yaml(reloaded(dir, a)), to_yaml(a));
  // Off by default: existing configs draw the same batches as before.
  test::write_text(dir / "d.yaml", kMinimal);
  const TrainConfig d = load_train_config(dir / "d.yaml");
  EXPECT_EQ(d.augmentation.inversion.probability, 0.0);
  EXPECT_EQ(d.augmentation.remap.probability, 0.0);
  EXPECT_FALSE(d.augmentation.scanner_per_batch);
  EXPECT_TRUE(d.dataset.simulated_scanners.profiles.empty());

  test::write_text(dir / "e.yaml", std::string(kMinimal) + "augmentation:\n  inversion: {range: [0.5, 1.5]}\n");
  expect_config_error(dir / "e.yaml", {"augmentation.inversion.range", "line 5"});
  test::write_text(dir / "e.yaml", std::string(kMinimal) + "augmentation:\n  scanner_per_batch: 2\n");
  expect_config_error(dir / "e.yaml", {"augmentation.scanner_per_batch", "line 5"});
  test::write_text(dir / "f.yaml", R"(dataset:
  synthetic: {count: 4, size: 32}
  simulated_scanners: {profiles: [original, scanner_x]}
output: out
)");
  expect_config_error(dir / "f.yaml", {"dataset.simulated_scanners.profiles", "line 3", "scanner_x", "scanner_a"});
}

// The `model:` section uses model.yaml's nested architecture keys; the flat
// keys of older configs still load as documented aliases.
TEST(TrainConfig, ModelSectionTakesTheNestedKeysAndTheOldFlatAliases) {
  TempDir dir;
  test::write_text(dir / "nested.yaml", std::string(kMinimal) + R"(model:
  depth: 3
  norm: {kind: group, num_groups: 4, eps: 0.001, momentum: null}
  upsample: transposed_conv
)");
  const auto nested = load_train_config(dir / "nested.yaml").model.architecture;
  EXPECT_EQ(nested.depth(), 3);
  EXPECT_EQ(nested.norm().kind(), models::NormKind::kGroup);
  EXPECT_EQ(nested.norm().num_groups(), 4);
  EXPECT_DOUBLE_EQ(nested.norm().eps(), 0.001);
  EXPECT_FALSE(nested.norm().momentum().has_value());
  EXPECT_EQ(nested.upsample(), models::UpsampleKind::kTransposedConv);

  test::write_text(dir / "flat.yaml", std::string(kMinimal) + R"(model:
  norm: batch_renorm
  num_groups: 2
  norm_momentum: 0.2
  norm_eps: 0.01
  domain_affine: true
  renorm_r_max: 2.5
  renorm_d_max: 4
  renorm_warmup_steps: 7
)");
  const auto flat = load_train_config(dir / "flat.yaml").model.architecture.norm();
  EXPECT_EQ(flat.kind(), models::NormKind::kBatchRenorm);
  EXPECT_EQ(flat.num_groups(), 2);
  EXPECT_DOUBLE_EQ(*flat.momentum(), 0.2);
  EXPECT_DOUBLE_EQ(flat.eps(), 0.01);
  EXPECT_TRUE(flat.domain_affine());
  EXPECT_DOUBLE_EQ(flat.r_max(), 2.5);
  EXPECT_DOUBLE_EQ(flat.d_max(), 4.0);
  EXPECT_EQ(flat.renorm_warmup_steps(), 7);

  // The effective config is written with the nested keys only.
  const std::string effective = to_yaml(load_train_config(dir / "flat.yaml"));
  EXPECT_NE(effective.find("  norm:\n    kind: batch_renorm\n"), std::string::npos) << effective;
  EXPECT_EQ(effective.find("renorm_r_max"), std::string::npos) << effective;

  test::write_text(dir / "mixed.yaml", std::string(kMinimal) + "model:\n  norm: {kind: batch}\n  norm_eps: 0.1\n");
  expect_config_error(dir / "mixed.yaml", {"model.norm_eps", "line 6", "norm.eps"});
  test::write_text(dir / "bad.yaml", std::string(kMinimal) + "model:\n  norm: {kind: layer}\n");
  expect_config_error(dir / "bad.yaml",
                      {"model.norm.kind", "line 5", "'layer'", "batch, instance, group, batch_renorm, none"});

  // IBN: instance norm in the first encoder levels of a batch-norm network.
  test::write_text(dir / "ibn.yaml", std::string(kMinimal) + "model:\n  depth: 3\n  norm: {kind: batch, instance_levels: 1}\n");
  const TrainConfig ibn = load_train_config(dir / "ibn.yaml");
  EXPECT_EQ(ibn.model.architecture.norm().instance_levels(), 1);
  EXPECT_EQ(reloaded(dir, ibn).model.architecture.norm().instance_levels(), 1);
  EXPECT_EQ(load_train_config(dir / "nested.yaml").model.architecture.norm().instance_levels(), 0);
  test::write_text(dir / "ibn.yaml", std::string(kMinimal) + "model:\n  norm: {kind: group, instance_levels: 1}\n");
  expect_config_error(dir / "ibn.yaml", {"model.norm.instance_levels", "line 5", "not to group"});
  test::write_text(dir / "ibn.yaml", std::string(kMinimal) + "model:\n  depth: 3\n  norm: {kind: batch, instance_levels: 4}\n");
  expect_config_error(dir / "ibn.yaml", {"model.norm.instance_levels", "more than the network's depth (3)"});

  // IBN-a: a share of those levels' channels.
  test::write_text(dir / "ibna.yaml", std::string(kMinimal) +
                                          "model:\n  norm: {kind: batch, instance_levels: 2, instance_fraction: 0.5}\n");
  const TrainConfig ibna = load_train_config(dir / "ibna.yaml");
  EXPECT_DOUBLE_EQ(ibna.model.architecture.norm().instance_fraction(), 0.5);
  EXPECT_DOUBLE_EQ(reloaded(dir, ibna).model.architecture.norm().instance_fraction(), 0.5);
  EXPECT_DOUBLE_EQ(ibn.model.architecture.norm().instance_fraction(), 1.0);
  test::write_text(dir / "ibna.yaml", std::string(kMinimal) + "model:\n  norm: {kind: batch, instance_fraction: 0.5}\n");
  expect_config_error(dir / "ibna.yaml", {"model.norm.instance_fraction", "line 5", "only with instance_levels > 0"});
  for (const char* bad : {"0", "1.5"}) {
    test::write_text(dir / "ibna.yaml", std::string(kMinimal) + "model:\n  norm: {kind: batch, instance_levels: 1, " +
                                            "instance_fraction: " + bad + "}\n");
    expect_config_error(dir / "ibna.yaml", {"model.norm.instance_fraction", "line 5"});
  }
}

TEST(TrainConfig, ClosedSetsListTheirNamesWithKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  optimizer: adam\n  lr_schedule: cosine\n");
  expect_config_error(dir / "c.yaml", {"training.optimizer", "line 5", "'adam'", "sgd, adamw"});
  test::write_text(dir / "d.yaml", std::string(kMinimal) + "training:\n  lr_schedule: cosine\n");
  expect_config_error(dir / "d.yaml", {"training.lr_schedule", "line 5", "'cosine'", "poly, constant"});
  test::write_text(dir / "e.yaml", std::string(kMinimal) + "preprocessing:\n  normalization: [ct, minmax]\n");
  expect_config_error(dir / "e.yaml",
                      {"preprocessing.normalization", "line 5", "'minmax'", "ct, zscore, window, percentile, none"});
  test::write_text(dir / "f.yaml", std::string(kMinimal) + "training:\n  epochs: \"3\"\n");
  expect_config_error(dir / "f.yaml", {"training.epochs", "line 5", "expected an integer"});
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

// Issue 17: overflow, NaN and multi-line values are bad input with file,
// key and line, quoted short on one line.
TEST(TrainConfig, OverflowNanAndLongValuesAreOneLineErrorsWithKeyAndLine) {
  TempDir dir;
  const auto error_of = [&](const std::string& extra) {
    test::write_text(dir / "c.yaml", std::string(kMinimal) + extra);
    try {
      load_train_config(dir / "c.yaml");
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "no error for " << extra;
    return std::string();
  };
  std::string m = error_of("training:\n  learning_rate: 1e309\n");
  EXPECT_NE(m.find("training.learning_rate', line 5: '1e309' is out of the range of numbers"), std::string::npos) << m;
  m = error_of("training:\n  epochs: 1e400\n");
  EXPECT_NE(m.find("training.epochs', line 5: '1e400' is out of the range"), std::string::npos) << m;
  m = error_of("augmentation:\n  gamma:\n    range: [.nan, 2]\n");
  EXPECT_NE(m.find("augmentation.gamma.range', line 6: expected [low, high] (two finite numbers)"), std::string::npos)
      << m;
  m = error_of("training:\n  epochs: |\n    " + std::string(100, 'y') + "\n    more\n");
  EXPECT_NE(m.find("expected an integer, got '" + std::string(60, 'y') + "...'"), std::string::npos) << m;
  m = error_of("training:\n  precision: \"fp16\\nsecond line\"\n");
  EXPECT_NE(m.find("training.precision', line 5: unknown precision 'fp16\\nsecond line'"), std::string::npos) << m;
  m = error_of("training:\n  optimizer: " + std::string(300, 'z') + "\n");
  EXPECT_NE(m.find("unknown optimizer '" + std::string(60, 'z') + "...' (expected one of sgd, adamw)"),
            std::string::npos)
      << m;
}

TEST(TrainConfig, UnknownPrecisionListsTheAcceptedNamesWithKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "c.yaml", std::string(kMinimal) + "training:\n  epochs: 3\n  precision: fp16\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "training.precision", "line 6", "'fp16'", "auto, fp32, bf16"});
}

TEST(TrainConfig, MissingDatasetIsAnError) {
  TempDir dir;
  test::write_text(dir / "c.yaml", "output: out\n");
  expect_config_error(dir / "c.yaml", {"c.yaml", "dataset", "missing"});
  test::write_text(dir / "d.yaml", "dataset: {source: nowhere/dataset.json}\noutput: out\n");
  expect_config_error(dir / "d.yaml", {"dataset.source", "line 1", "does not exist"});
}

// Found by fuzz_train_config (10-minute run): a dataset.source name longer than
// the system allows made fs::exists throw std::filesystem::filesystem_error
// ("File name too long"), which escaped load_train_config; and an unknown key
// holding a line break gave a two-line error.
TEST(TrainConfig, ASourceTheSystemRefusesAndAKeyWithALineBreakAreOneLineConfigErrors) {
  TempDir dir;
  test::write_text(dir / "long.yaml", "dataset: {source: " + std::string(5000, 'a') + "}\noutput: out\n");
  expect_config_error(dir / "long.yaml", {"dataset.source", "line 1", "cannot be used"});
  test::write_text(dir / "key.yaml", "dataset: {source: nowhere}\n\"bad\\nkey\": 1\n");
  try {
    load_train_config(dir / "key.yaml");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find("unknown key"), std::string::npos) << what;
  }
}

TEST(TrainConfig, SetOverridesApplyAndAreValidated) {
  TempDir dir;
  test::write_text(dir / "c.yaml", kMinimal);
  const TrainConfig c =
      load_train_config(dir / "c.yaml", {"training.epochs=3", "model.norm=group", "augmentation.enabled=false"});
  EXPECT_EQ(c.training.epochs, 3);
  EXPECT_EQ(c.model.architecture.norm().kind(), models::NormKind::kGroup);
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
    if (entry.path().filename() == "node.yaml") continue;  // medseg serve's DICOM node config, not training
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
