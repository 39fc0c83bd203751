#include "pipeline/config/train_config.h"

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include "core/error.h"
#include "core/enum_names.h"
#include "core/error_message.h"
#include "core/yaml_fields.h"
#include "models/adaptation_limits.h"
#include "pipeline/synth/scanner_profile.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using core::Fields;

namespace {

constexpr std::int64_t kBig = std::numeric_limits<std::int32_t>::max();

constexpr core::EnumNames<Optimizer, 2> kOptimizers{"optimizer",
                                                   {{{Optimizer::kSgd, "sgd"}, {Optimizer::kAdamW, "adamw"}}}};
constexpr core::EnumNames<LrSchedule, 2> kSchedules{
    "learning-rate schedule", {{{LrSchedule::kPoly, "poly"}, {LrSchedule::kConstant, "constant"}}}};

// Applies "a.b.c=value" to the tree, creating mappings on the way.
void apply_override(YAML::Node& root, const std::string& text, const fs::path& file) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set '" + text + "': expected key.path=value");
  }
  const std::string path = text.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set '" + text + "': value is not valid YAML (" + e.msg + ")");
  }
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) keys.push_back(k);
  // yaml-cpp nodes are handles: walk with copies, assign through the parent.
  std::vector<YAML::Node> chain{root};
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = chain.back()[keys[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap()) {
      throw ConfigError("--set '" + text + "': '" + keys[i] + "' in '" + file.string() + "' is not a mapping");
    }
    if (!next.IsDefined() || next.IsNull()) {
      chain.back()[keys[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[keys[i]];
    }
    chain.push_back(next);
  }
  chain.back()[keys.back()] = value;
}

fs::path resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return {};
  const fs::path path(p);
  return path.is_absolute() ? path : base / path;
}

AugmentationParam read_param(const Fields& aug, const char* key, AugmentationParam fallback, double min,
                             double max) {
  const Fields f = aug.section(key);
  f.allow_only({"probability", "range"});
  AugmentationParam p;
  p.probability = f.get_double("probability", fallback.probability, 0.0, 1.0);
  p.range = f.get_range("range", fallback.range, min, max);
  return p;
}

}  // namespace

Optimizer parse_optimizer(std::string_view name) { return kOptimizers.parse(name); }
std::string to_string(Optimizer optimizer) { return kOptimizers.name(optimizer); }
LrSchedule parse_lr_schedule(std::string_view name) { return kSchedules.parse(name); }
std::string to_string(LrSchedule schedule) { return kSchedules.name(schedule); }

namespace {

// `base`: the folder relative paths in the file are resolved against.
TrainConfig load_train_config_from(const fs::path& file, const std::vector<std::string>& overrides,
                                   const fs::path& base) {
  YAML::Node root = core::load_yaml_file(file);
  if (!root.IsMap()) throw ConfigError("'" + file.string() + "': expected a mapping of sections");
  auto overridden = std::make_shared<std::set<std::string>>();
  for (const auto& o : overrides) {
    apply_override(root, o, file);
    overridden->insert(o.substr(0, o.find('=')));
  }

  const Fields top(root, file.string(), "", overridden);
  top.allow_only({"dataset", "preprocessing", "model", "training", "augmentation", "validation", "adaptation", "output"});
  TrainConfig c;
  c.file = file;

  const Fields ds = top.section("dataset");
  ds.allow_only({"source", "synthetic", "simulated_scanners", "num_folds", "fold", "validation_cases", "cache",
                 "labels", "max_voxels"});
  if (ds.has("max_voxels")) {
    c.dataset.max_voxels = static_cast<std::uint64_t>(ds.get_int("max_voxels", 0, 1, std::int64_t{1} << 50));
  }
  c.dataset.source = resolve(base, ds.get_string("source", ""));
  if (ds.has("synthetic")) {
    const Fields syn = ds.section("synthetic");
    syn.allow_only({"count", "size", "spacing", "profiles", "seed"});
    auto& s = c.dataset.synthetic;
    s.count = syn.get_int("count", 8, 2, 10000);
    s.size = syn.get_int("size", s.size, 16, 512);
    s.spacing_mm = syn.get_double("spacing", s.spacing_mm, 0.01, 100.0);
    if (syn.has("profiles")) s.profiles = syn.get_strings("profiles");
    s.seed = syn.get_int("seed", s.seed, 0, kBig);
    if (s.profiles.empty()) syn.fail("profiles", "needs at least one scanner profile");
  }
  if (ds.has("simulated_scanners")) {
    const Fields sim = ds.section("simulated_scanners");
    sim.allow_only({"profiles", "seed", "domain_per_batch"});
    auto& s = c.dataset.simulated_scanners;
    s.profiles = sim.get_strings("profiles");
    if (s.profiles.empty()) sim.fail("profiles", "needs at least one profile (original or a scanner profile)");
    std::vector<std::string> known{"original"};
    for (const auto& n : scanner_profile_names()) known.push_back(n);
    std::set<std::string> seen;
    for (const auto& p : s.profiles) {
      if (std::find(known.begin(), known.end(), p) == known.end()) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        sim.fail("profiles", "unknown profile '" + p + "' (known: " + list + ")");
      }
      if (!seen.insert(p).second) sim.fail("profiles", "'" + p + "' is listed twice");
    }
    s.seed = sim.get_int("seed", s.seed, 0, kBig);
    s.domain_per_batch = sim.get_bool("domain_per_batch", s.domain_per_batch);
  }
  if (c.dataset.source.empty() && c.dataset.synthetic.count == 0) {
    ds.fail("", "missing: give dataset.source (a dataset folder, dataset.json or case list) or dataset.synthetic");
  }
  if (!c.dataset.source.empty() && c.dataset.synthetic.count > 0) {
    ds.fail("source", "give dataset.source or dataset.synthetic, not both");
  }
  if (!c.dataset.source.empty()) {
    // With an error code: a name the system refuses (e.g. longer than it allows) is a bad
    // config, not a filesystem_error escaping (found by fuzz_train_config).
    std::error_code ec;
    if (!fs::exists(c.dataset.source, ec)) {
      ds.fail("source", core::quote_short(c.dataset.source.string(), 120) +
                            (ec && ec != std::errc::no_such_file_or_directory ? " cannot be used: " + ec.message()
                                                                              : " does not exist"));
    }
  }
  c.dataset.num_folds = ds.get_int("num_folds", c.dataset.num_folds, 2, 100);
  c.dataset.fold = ds.get_int("fold", c.dataset.fold, 0, c.dataset.num_folds - 1);
  c.dataset.validation_cases = ds.get_strings("validation_cases");
  c.dataset.cache = resolve(base, ds.get_string("cache", ""));
  if (ds.has("labels")) {
    const YAML::Node labels = ds.node()["labels"];
    if (!labels.IsMap()) ds.fail("labels", "expected a mapping of label value to name, e.g. {0: background, 1: brain}");
    for (const auto& item : labels) {
      int value = -1;
      try {
        value = item.first.as<int>();
      } catch (const YAML::Exception&) {
        ds.fail("labels", "'" + item.first.Scalar() + "' is not a label value (an integer 0..32767)");
      }
      if (value < 0 || value > 32767) ds.fail("labels", std::to_string(value) + " is outside 0..32767");
      if (!item.second.IsScalar()) ds.fail("labels", "the name of label " + std::to_string(value) + " is not text");
      c.dataset.labels[value] = item.second.Scalar();
    }
    if (c.dataset.labels.count(0) == 0) ds.fail("labels", "label 0 (background) is missing");
    c.dataset.labels_location = ds.where("labels");
  }

  const Fields pre = top.section("preprocessing");
  pre.allow_only({"target_spacing", "orientation", "crop_to_nonzero", "normalization", "window", "percentiles"});
  if (pre.has("target_spacing")) c.preprocessing.target_spacing = pre.get_triple("target_spacing", {}, 0.01, 100.0);
  c.preprocessing.orientation = pre.get_string("orientation", c.preprocessing.orientation);
  if (pre.has("crop_to_nonzero")) c.preprocessing.crop_to_nonzero = pre.get_bool("crop_to_nonzero", true);
  for (const auto& name : pre.get_strings("normalization")) {
    try {
      c.preprocessing.normalization.push_back(parse_normalization_kind(name));
    } catch (const ConfigError& e) {
      pre.fail("normalization", e.what());
    }
  }
  c.preprocessing.window = pre.get_range("window", c.preprocessing.window, -1e6, 1e6);
  c.preprocessing.percentiles = pre.get_range("percentiles", c.preprocessing.percentiles, 0.0, 100.0);

  const Fields m = top.section("model");
  models::read_architecture(m, models::ArchitectureKeys::kTrainingConfig, c.model.architecture);
  c.model.domains = m.get_strings("domains");
  if (!c.dataset.simulated_scanners.profiles.empty() && !c.model.domains.empty() &&
      c.model.domains != c.dataset.simulated_scanners.profiles) {
    m.fail("domains", "with dataset.simulated_scanners the domains are its profiles; leave model.domains out");
  }

  const Fields t = top.section("training");
  t.allow_only({"epochs", "iterations_per_epoch", "batch_size", "patch_size", "optimizer", "learning_rate",
                "momentum", "weight_decay", "lr_schedule", "precision", "seed", "threads", "loader_threads",
                "prefetch", "gradient_clip", "foreground_oversampling", "memory_budget_gib", "sync_batch_norm",
                "precise_bn_batches", "frozen_bn_epochs"});
  auto& tc = c.training;
  tc.epochs = t.get_int("epochs", tc.epochs, 1, 100000);
  tc.iterations_per_epoch = t.get_int("iterations_per_epoch", tc.iterations_per_epoch, 1, 1000000);
  tc.batch_size = t.get_int("batch_size", tc.batch_size, 1, 1024);
  if (t.has("patch_size")) {
    const auto p = t.get_triple("patch_size", {}, 4, 1024);
    std::array<std::int64_t, 3> patch{};
    for (int d = 0; d < 3; ++d) {
      patch[d] = static_cast<std::int64_t>(p[d]);
      if (static_cast<double>(patch[d]) != p[d]) t.fail("patch_size", "expected whole numbers of voxels");
    }
    tc.patch_size = patch;
  }
  tc.optimizer = t.get_parsed("optimizer", tc.optimizer, parse_optimizer);
  tc.learning_rate = t.get_double("learning_rate", tc.learning_rate, 1e-8, 10.0);
  tc.momentum = t.get_double("momentum", tc.momentum, 0.0, 0.9999);
  tc.weight_decay = t.get_double("weight_decay", tc.weight_decay, 0.0, 1.0);
  tc.lr_schedule = t.get_parsed("lr_schedule", tc.lr_schedule, parse_lr_schedule);
  tc.precision = t.get_parsed("precision", tc.precision, models::parse_precision);
  tc.seed = t.get_int("seed", tc.seed, 0, kBig);
  tc.threads = t.get_int("threads", tc.threads, 0, 1024);
  tc.loader_threads = t.get_int("loader_threads", tc.loader_threads, 0, 64);
  tc.prefetch = t.get_int("prefetch", tc.prefetch, 1, 64);
  tc.gradient_clip = t.get_double("gradient_clip", tc.gradient_clip, 0.0, 1e6);
  tc.foreground_oversampling = t.get_double("foreground_oversampling", tc.foreground_oversampling, 0.0, 1.0);
  tc.memory_budget_gib = t.get_double("memory_budget_gib", tc.memory_budget_gib, 0.01, 1024.0);
  tc.sync_batch_norm = t.get_bool("sync_batch_norm", tc.sync_batch_norm);
  tc.precise_bn_batches = t.get_int("precise_bn_batches", tc.precise_bn_batches, 0, 100000);
  tc.frozen_bn_epochs = t.get_int("frozen_bn_epochs", tc.frozen_bn_epochs, 0, 100000);
  if (tc.frozen_bn_epochs >= tc.epochs) {
    t.fail("frozen_bn_epochs", "must be fewer than training.epochs (" + std::to_string(tc.epochs) +
                                   "): the statistics it freezes come from the epochs before");
  }
  // Both work on one set of batch-norm statistics.
  const auto needs_single_domain_batch_norm = [&](const char* key) {
    const models::NormKind kind = c.model.architecture.norm().kind();
    if (kind != models::NormKind::kBatch && kind != models::NormKind::kBatchRenorm) {
      t.fail(key, "needs batch-norm statistics, but model.norm.kind is " + models::to_string(kind));
    }
    if (c.dataset.simulated_scanners.profiles.size() > 1 || c.model.domains.size() > 1) {
      t.fail(key, "is implemented for single-domain models only (this one has several domains)");
    }
  };
  if (tc.precise_bn_batches > 0) needs_single_domain_batch_norm("precise_bn_batches");
  if (tc.frozen_bn_epochs > 0) needs_single_domain_batch_norm("frozen_bn_epochs");

  const Fields a = top.section("augmentation");
  a.allow_only({"enabled", "flip_probability", "rotation", "scaling", "elastic", "gain", "offset", "contrast",
                "gamma", "gamma_invert_probability", "bias_field", "noise", "blur", "low_resolution", "inversion", "remap",
                "scanner_per_batch"});
  auto& ac = c.augmentation;
  ac.enabled = a.get_bool("enabled", ac.enabled);
  ac.flip_probability = a.get_double("flip_probability", ac.flip_probability, 0.0, 1.0);
  ac.rotation = read_param(a, "rotation", ac.rotation, -180.0, 180.0);
  ac.scaling = read_param(a, "scaling", ac.scaling, 0.1, 10.0);
  ac.elastic = read_param(a, "elastic", ac.elastic, 0.0, 100.0);
  ac.gain = read_param(a, "gain", ac.gain, 0.01, 100.0);
  ac.offset = read_param(a, "offset", ac.offset, -100.0, 100.0);
  ac.contrast = read_param(a, "contrast", ac.contrast, 0.01, 100.0);
  ac.gamma = read_param(a, "gamma", ac.gamma, 0.01, 100.0);
  ac.gamma_invert_probability = a.get_double("gamma_invert_probability", ac.gamma_invert_probability, 0.0, 1.0);
  ac.bias_field = read_param(a, "bias_field", ac.bias_field, 0.0, 10.0);
  ac.noise = read_param(a, "noise", ac.noise, 0.0, 100.0);
  ac.blur = read_param(a, "blur", ac.blur, 0.0, 100.0);
  ac.low_resolution = read_param(a, "low_resolution", ac.low_resolution, 0.05, 1.0);
  ac.inversion = read_param(a, "inversion", ac.inversion, 0.0, 1.0);
  ac.remap = read_param(a, "remap", ac.remap, 0.0, 10.0);
  ac.scanner_per_batch = a.get_bool("scanner_per_batch", ac.scanner_per_batch);

  const Fields v = top.section("validation");
  v.allow_only({"every", "overlap"});
  c.validation.every = v.get_int("every", c.validation.every, 1, 100000);
  c.validation.overlap = v.get_double("overlap", c.validation.overlap, 0.0, 0.95);

  if (top.has("adaptation")) {
    const Fields ad = top.section("adaptation");
    ad.allow_only({"min_change", "methods", "check", "prior_windows", "prior_strength"});
    if (ad.has("min_change")) c.adaptation.min_change = ad.get_double("min_change", 0.0, 0.0, 1.0);
    if (ad.has("methods")) {
      const std::vector<std::string> names = ad.get_strings("methods");
      if (names.empty()) ad.fail("methods", "expected at least one adaptation method (adabn, prior, tent)");
      try {
        c.adaptation.methods = parse_adaptation_methods(names);
      } catch (const Error& e) {
        ad.fail("methods", e.what());
      }
    }
    if (ad.has("check")) c.adaptation.check = ad.get_bool("check", true);
    if (ad.has("prior_windows")) {
      c.adaptation.prior_windows = ad.get_int("prior_windows", 16, models::kMinPriorWindows, models::kMaxPriorWindows);
    }
    if (ad.has("prior_strength")) {
      c.adaptation.prior_strength = ad.get_double("prior_strength", 16.0, 0.0, models::kMaxPriorStrength);
    }
  }

  if (!top.has("output")) top.fail("output", "missing: the folder for checkpoints, logs and bundles");
  c.output = resolve(base, top.get_string("output", ""));
  if (c.dataset.cache.empty()) c.dataset.cache = c.output / "preprocessed";
  return c;
}

}  // namespace

TrainConfig load_train_config(const fs::path& file, const std::vector<std::string>& overrides) {
  return load_train_config_from(file, overrides, file.parent_path());
}

TrainConfig load_saved_train_config(const fs::path& file) {
  // to_yaml wrote paths already resolved (against the original config's
  // folder, absolute or relative to the working directory): take them as
  // written.
  return load_train_config_from(file, {}, fs::path());
}

}  // namespace medseg::pipeline
