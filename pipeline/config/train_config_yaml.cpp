// The effective configuration, every default filled in, saved with outputs.
#include <yaml-cpp/yaml.h>

#include "pipeline/config/train_config.h"

namespace medseg::pipeline {
namespace {

template <typename T>
void seq(YAML::Emitter& out, const T& values) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& v : values) out << v;
  out << YAML::EndSeq;
}

void param(YAML::Emitter& out, const char* key, const AugmentationParam& p) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "probability"
      << YAML::Value << p.probability << YAML::Key << "range" << YAML::Value;
  seq(out, p.range);
  out << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const TrainConfig& c) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);
  out << YAML::BeginMap;

  out << YAML::Key << "dataset" << YAML::Value << YAML::BeginMap;
  if (!c.dataset.source.empty()) out << YAML::Key << "source" << YAML::Value << c.dataset.source.string();
  if (c.dataset.synthetic.count > 0) {
    const auto& s = c.dataset.synthetic;
    out << YAML::Key << "synthetic" << YAML::Value << YAML::BeginMap << YAML::Key << "count" << YAML::Value
        << s.count << YAML::Key << "size" << YAML::Value << s.size << YAML::Key << "spacing" << YAML::Value
        << s.spacing_mm << YAML::Key << "profiles" << YAML::Value;
    seq(out, s.profiles);
    out << YAML::Key << "seed" << YAML::Value << s.seed << YAML::EndMap;
  }
  if (!c.dataset.simulated_scanners.profiles.empty()) {
    const auto& s = c.dataset.simulated_scanners;
    out << YAML::Key << "simulated_scanners" << YAML::Value << YAML::BeginMap << YAML::Key << "profiles"
        << YAML::Value;
    seq(out, s.profiles);
    out << YAML::Key << "seed" << YAML::Value << s.seed << YAML::Key << "domain_per_batch" << YAML::Value
        << s.domain_per_batch << YAML::EndMap;
  }
  out << YAML::Key << "num_folds" << YAML::Value << c.dataset.num_folds << YAML::Key << "fold" << YAML::Value
      << c.dataset.fold;
  if (!c.dataset.validation_cases.empty()) {
    out << YAML::Key << "validation_cases" << YAML::Value;
    seq(out, c.dataset.validation_cases);
  }
  if (!c.dataset.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [value, name] : c.dataset.labels) out << YAML::Key << value << YAML::Value << name;
    out << YAML::EndMap;
  }
  if (c.dataset.max_voxels) out << YAML::Key << "max_voxels" << YAML::Value << *c.dataset.max_voxels;
  out << YAML::Key << "cache" << YAML::Value << c.dataset.cache.string() << YAML::EndMap;

  const auto& p = c.preprocessing;
  out << YAML::Key << "preprocessing" << YAML::Value << YAML::BeginMap;
  if (p.target_spacing) {
    out << YAML::Key << "target_spacing" << YAML::Value;
    seq(out, *p.target_spacing);
  }
  out << YAML::Key << "orientation" << YAML::Value << p.orientation;
  if (p.crop_to_nonzero) out << YAML::Key << "crop_to_nonzero" << YAML::Value << *p.crop_to_nonzero;
  if (!p.normalization.empty()) {
    out << YAML::Key << "normalization" << YAML::Value;
    out << YAML::Flow << YAML::BeginSeq;
    for (const NormalizationKind n : p.normalization) out << to_string(n);
    out << YAML::EndSeq;
  }
  out << YAML::Key << "window" << YAML::Value;
  seq(out, p.window);
  out << YAML::Key << "percentiles" << YAML::Value;
  seq(out, p.percentiles);
  out << YAML::EndMap;

  out << YAML::Key << "model" << YAML::Value;
  models::write_architecture(out, c.model.architecture, models::ArchitectureKeys::kTrainingConfig, c.model.domains);

  const auto& t = c.training;
  out << YAML::Key << "training" << YAML::Value << YAML::BeginMap << YAML::Key << "epochs" << YAML::Value
      << t.epochs << YAML::Key << "iterations_per_epoch" << YAML::Value << t.iterations_per_epoch << YAML::Key
      << "batch_size" << YAML::Value << t.batch_size;
  if (t.patch_size) {
    out << YAML::Key << "patch_size" << YAML::Value;
    seq(out, *t.patch_size);
  }
  out << YAML::Key << "optimizer" << YAML::Value << to_string(t.optimizer) << YAML::Key << "learning_rate" << YAML::Value
      << t.learning_rate << YAML::Key << "momentum" << YAML::Value << t.momentum << YAML::Key << "weight_decay"
      << YAML::Value << t.weight_decay << YAML::Key << "lr_schedule" << YAML::Value << to_string(t.lr_schedule) << YAML::Key
      << "precision" << YAML::Value << models::to_string(t.precision) << YAML::Key << "seed" << YAML::Value << t.seed << YAML::Key
      << "threads" << YAML::Value << t.threads << YAML::Key << "loader_threads" << YAML::Value
      << t.loader_threads << YAML::Key << "prefetch" << YAML::Value << t.prefetch << YAML::Key
      << "gradient_clip" << YAML::Value << t.gradient_clip << YAML::Key << "foreground_oversampling"
      << YAML::Value << t.foreground_oversampling << YAML::Key << "memory_budget_gib" << YAML::Value
      << t.memory_budget_gib << YAML::Key << "sync_batch_norm" << YAML::Value << t.sync_batch_norm << YAML::Key
      << "precise_bn_batches" << YAML::Value << t.precise_bn_batches << YAML::Key << "frozen_bn_epochs" << YAML::Value
      << t.frozen_bn_epochs << YAML::EndMap;

  const auto& a = c.augmentation;
  out << YAML::Key << "augmentation" << YAML::Value << YAML::BeginMap << YAML::Key << "enabled" << YAML::Value
      << a.enabled << YAML::Key << "flip_probability" << YAML::Value << a.flip_probability;
  param(out, "rotation", a.rotation);
  param(out, "scaling", a.scaling);
  param(out, "elastic", a.elastic);
  param(out, "gain", a.gain);
  param(out, "offset", a.offset);
  param(out, "contrast", a.contrast);
  param(out, "gamma", a.gamma);
  out << YAML::Key << "gamma_invert_probability" << YAML::Value << a.gamma_invert_probability;
  param(out, "bias_field", a.bias_field);
  param(out, "noise", a.noise);
  param(out, "blur", a.blur);
  param(out, "low_resolution", a.low_resolution);
  param(out, "inversion", a.inversion);
  param(out, "remap", a.remap);
  out << YAML::Key << "scanner_per_batch" << YAML::Value << a.scanner_per_batch;
  out << YAML::EndMap;

  out << YAML::Key << "validation" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value
      << c.validation.every << YAML::Key << "overlap" << YAML::Value << c.validation.overlap << YAML::EndMap;
  const AdaptationConfig& ad = c.adaptation;
  if (ad.min_change || !ad.methods.empty() || ad.check || ad.prior_windows || ad.prior_strength) {
    out << YAML::Key << "adaptation" << YAML::Value << YAML::BeginMap;
    if (ad.min_change) out << YAML::Key << "min_change" << YAML::Value << *ad.min_change;
    if (!ad.methods.empty()) {
      out << YAML::Key << "methods" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const AdaptationMethod m : ad.methods) out << to_string(m);
      out << YAML::EndSeq;
    }
    if (ad.check) out << YAML::Key << "check" << YAML::Value << *ad.check;
    if (ad.prior_windows) out << YAML::Key << "prior_windows" << YAML::Value << *ad.prior_windows;
    if (ad.prior_strength) out << YAML::Key << "prior_strength" << YAML::Value << *ad.prior_strength;
    out << YAML::EndMap;
  }
  out << YAML::Key << "output" << YAML::Value << c.output.string();
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace medseg::pipeline
