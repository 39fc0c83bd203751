#include "pipeline/infer/segmenter.h"

#include <ATen/ATen.h>

#include <chrono>

#include "core/error.h"
#include "models/domain_batch_norm.h"
#include "pipeline/grid_compare.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/body_mask.h"
#include "pipeline/label_kernels.h"
#include "pipeline/infer/postprocess.h"
#include "pipeline/infer/predictor.h"
#include "pipeline/preprocess/plan_json.h"

namespace medseg::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string known_domains(const models::BundleInfo& info) {
  std::string s;
  for (const auto& d : info.domains) s += (s.empty() ? "" : ", ") + d;
  return s.empty() ? "none named" : s;
}

// Maps a progress callback's [0, 1] onto [from, to] of an outer one.
ProgressCallback sub_progress(const ProgressCallback& outer, double from, double to) {
  if (!outer) return {};
  return [outer, from, to](double f) { return outer(from + (to - from) * f); };
}

// Softmax over dim 0 of (K, D, H, W) in place (no second full-size buffer).
void softmax_in_place(at::Tensor& logits) {
  const at::Tensor max = std::get<0>(logits.max(0, /*keepdim=*/true));
  logits.sub_(max).exp_();
  logits.div_(logits.sum(0, /*keepdim=*/true));
}

}  // namespace

Segmenter::Segmenter(models::Bundle bundle)
    : bundle_(std::move(bundle)), preprocessor_(plan_from_json(bundle_.info.preprocessing_json)) {
  if (!bundle_.model) throw ModelError("segmenter: bundle '" + bundle_.info.name + "' has no model");
  if (static_cast<std::int64_t>(preprocessor_.plan().normalization.size()) != bundle_.model->options.in_channels()) {
    throw ConfigError("bundle '" + bundle_.info.name + "': the preprocessing plan has " +
                      std::to_string(preprocessor_.plan().normalization.size()) +
                      " normalization recipe(s) for " + std::to_string(bundle_.model->options.in_channels()) +
                      " input channel(s)");
  }
  bundle_.model->eval();
  if (!bundle_.info.adapt_methods.empty()) {
    try {
      model_adapt_methods_ = parse_adaptation_methods(bundle_.info.adapt_methods);
    } catch (const ConfigError& e) {
      throw ConfigError("model '" + bundle_.info.name + "': model.yaml, key 'adaptation.methods': " + e.what());
    }
  }
}

std::int64_t Segmenter::domain_index(const std::string& name) const {
  if (name.empty()) return 0;
  const auto& domains = bundle_.info.domains;
  for (std::size_t d = 0; d < domains.size(); ++d) {
    if (domains[d] == name) return static_cast<std::int64_t>(d);
  }
  throw ConfigError("model '" + bundle_.info.name + "' has no domain '" + name + "' (its domains: " +
                    known_domains(bundle_.info) + "; or use auto)");
}

void Segmenter::check(const SegmentOptions& o) const {
  if (!(o.overlap >= 0.0 && o.overlap < 1.0)) {
    throw ConfigError("overlap must be in [0, 1), got " + std::to_string(o.overlap));
  }
  if (o.windows_per_batch < 1) throw ConfigError("windows per batch must be at least 1");
  if (o.min_island_ml < 0.0) throw ConfigError("minimum island volume must not be negative");
  if (o.domain == kAutoDomain) {
    if (!has_batch_statistics(bundle_.model->options)) {
      throw ConfigError("--domain auto: model '" + bundle_.info.name + "' uses " +
                        models::to_string(bundle_.model->options.norm().kind()) +
                        " normalization, which adapts to every volume by itself; omit --domain");
    }
    if (o.adapt_min_change && !(*o.adapt_min_change >= 0.0 && *o.adapt_min_change <= 1.0)) {
      throw ConfigError("--adapt-min-change must be a share of voxels in [0, 1], got " +
                        std::to_string(*o.adapt_min_change));
    }
    // The same ranges a model's adaptation.prior_windows / prior_strength accept.
    if (o.adapt_prior_windows &&
        (*o.adapt_prior_windows < models::kMinPriorWindows || *o.adapt_prior_windows > models::kMaxPriorWindows)) {
      throw ConfigError("--adapt-windows must be " + std::to_string(models::kMinPriorWindows) + " to " +
                        std::to_string(models::kMaxPriorWindows) + ", got " + std::to_string(*o.adapt_prior_windows));
    }
    if (o.adapt_prior_strength &&
        !(*o.adapt_prior_strength >= 0.0 && *o.adapt_prior_strength <= models::kMaxPriorStrength)) {
      throw ConfigError("--adapt-prior-strength must be 0 to " + std::to_string(static_cast<long long>(models::kMaxPriorStrength)) +
                        ", got " + std::to_string(*o.adapt_prior_strength));
    }
    const std::int64_t layers = batch_norm_layer_count(bundle_.model);
    if (o.adapt_layers < 0 || o.adapt_layers > layers) {
      throw ConfigError("--adapt-layers " + std::to_string(o.adapt_layers) + ": model '" + bundle_.info.name +
                        "' has " + std::to_string(layers) + " batch-norm layers (0 = all)");
    }
  } else {
    domain_index(o.domain);
  }
}

std::pair<double, std::string> Segmenter::adapt_min_change(const SegmentOptions& o) const {
  if (o.adapt_min_change) return {*o.adapt_min_change, "option"};
  if (bundle_.info.adapt_min_change) return {*bundle_.info.adapt_min_change, "model"};
  return {AdaptationCheckOptions{}.min_change, "default"};
}

std::pair<std::vector<AdaptationMethod>, std::string> Segmenter::adapt_methods(const SegmentOptions& o) const {
  if (!o.adapt_methods.empty()) return {o.adapt_methods, "option"};
  if (!model_adapt_methods_.empty()) return {model_adapt_methods_, "model"};
  return {kDefaultAdaptMethods, "default"};
}

std::pair<bool, std::string> Segmenter::adapt_check(const SegmentOptions& o) const {
  if (o.adapt_check) return {*o.adapt_check, "option"};
  if (bundle_.info.adapt_check) return {*bundle_.info.adapt_check, "model"};
  return {true, "default"};
}

std::int64_t Segmenter::adapt_prior_windows(const SegmentOptions& o) const {
  return o.adapt_prior_windows.value_or(
      bundle_.info.adapt_prior_windows.value_or(AdaptationOptions{}.windows_per_image));
}

double Segmenter::adapt_prior_strength(const SegmentOptions& o) const {
  return o.adapt_prior_strength.value_or(
      bundle_.info.adapt_prior_strength.value_or(AdaptationOptions{}.prior_strength));
}

Segmentation Segmenter::segment(const std::vector<Volume>& channels, const SegmentOptions& o) const {
  check(o);
  const auto& info = bundle_.info;
  const auto start = Clock::now();
  if (static_cast<std::int64_t>(channels.size()) != bundle_.model->options.in_channels()) {
    throw ConfigError("model '" + info.name + "' expects " + std::to_string(bundle_.model->options.in_channels()) +
                      " input channel(s), got " + std::to_string(channels.size()));
  }
  Segmentation result;
  result.precision = models::resolve_precision(o.precision);
  const bool bf16 = result.precision == Precision::kBf16;

  // 1. Preprocess exactly as in training.
  auto t = Clock::now();
  PreprocessedCase pre = preprocessor_(channels);
  result.timings.preprocess = seconds_since(t);
  if (o.progress && !o.progress(0.0)) throw Cancelled("segmentation cancelled");

  // 2. Choose the statistics: a stored domain, or AdaBN on this volume
  // (a copy of the model with one more domain, so the bundle stays as it is).
  models::UNet3d model = bundle_.model;
  std::int64_t domain = 0;
  const double predict_share = o.mirror ? 8.0 : 1.0;
  double predict_from = 0.0;
  if (o.domain == kAutoDomain) {
    t = Clock::now();
    predict_from = 1.0 / (1.0 + predict_share);
    // Each method adapts its own copy with one more domain, so the bundle
    // stays as it is.
    std::vector<models::UNet3d> adapted;
    const std::vector<AdaptationMethod> method_list = adapt_methods(o).first;
    const auto [checked, checked_from] = adapt_check(o);
    const auto methods = static_cast<double>(method_list.size());
    for (const AdaptationMethod method : method_list) {
      models::UNet3d copy = copy_model(bundle_.model);
      domain = models::add_domain(*copy);
      copy->options.norm().num_domains(domain + 1);
      AdaptationOptions ao;
      ao.method = method;
      ao.overlap = o.overlap;
      ao.windows_per_batch = o.windows_per_batch;
      ao.layers = o.adapt_layers;
      ao.bf16 = bf16;
      ao.windows_per_image = adapt_prior_windows(o);
      ao.prior_strength = adapt_prior_strength(o);
      const double from = predict_from * static_cast<double>(adapted.size()) / methods;
      ao.progress = sub_progress(o.progress, from, from + predict_from / methods);
      adapt_domain(copy, domain, {pre.image.data}, info.patch_size, ao);
      copy->eval();
      adapted.push_back(copy);
    }
    model = adapted.front();
    result.domain = kAutoDomain;
    // Several methods are scored even without the check: it is what chooses.
    if (checked || adapted.size() > 1) {
      AdaptationCheckOptions co;
      co.windows_per_batch = o.windows_per_batch;
      // Without the check the lowest entropy decides alone (it only chooses).
      const auto [min_change, min_change_source] = adapt_min_change(o);
      co.min_change = checked ? min_change : 0.0;
      const auto predictor = [&o, bf16](const models::UNet3d& m, std::int64_t d) {
        return o.reference_network ? network_predictor(m, d, bf16) : folded_network_predictor(m, d, bf16);
      };
      std::vector<AdaptationCandidate> candidates;
      for (std::size_t m = 0; m < adapted.size(); ++m) {
        candidates.push_back({to_string(method_list[m]), predictor(adapted[m], domain)});
      }
      result.adaptation_check =
          check_adaptations(predictor(bundle_.model, 0), candidates, pre.image.data, info.patch_size, co);
      AdaptationCheck& check = *result.adaptation_check;
      if (checked) check.min_change_source = min_change_source;
      if (!checked) {
        check.keep = true;
        const std::string why = checked_from == "model" ? "the model's adaptation.check: false" : "--no-adapt-check";
        check.reason = "used without the check (" + why + "): " + check.candidates[check.chosen].name +
                       " has the lowest mean entropy of " + std::to_string(adapted.size()) + " methods";
      }
      if (check.keep) {
        model = adapted[check.chosen];
      } else {
        model = bundle_.model;
        domain = 0;
        result.domain = domain_name(info, 0);
      }
    }
    result.timings.adaptation = seconds_since(t);
  } else {
    domain = domain_index(o.domain);
    result.domain = domain_name(info, domain);
  }

  // 3. Sliding-window inference; the predictor is timed to split network
  // time from blending.
  t = Clock::now();
  const Predictor network = o.reference_network ? network_predictor(model, domain, bf16)
                                                : folded_network_predictor(model, domain, bf16);
  double network_seconds = 0.0;
  const Predictor timed = [&network, &network_seconds](const at::Tensor& input) {
    const auto t0 = Clock::now();
    at::Tensor out = network(input);
    network_seconds += seconds_since(t0);
    return out;
  };
  SlidingWindowOptions so;
  so.patch_size = info.patch_size;
  so.overlap = o.overlap;
  so.windows_per_batch = o.windows_per_batch;
  so.mirror = o.mirror;
  so.progress = sub_progress(o.progress, predict_from, 0.97);
  if (o.skip_empty_windows) {
    BodyMask body = body_mask(pre.image.data);
    so.body_mask = std::move(body.mask);
    so.background = std::move(body.background);
  }
  at::Tensor logits = sliding_window_predict(pre.image.data, timed, so, &result.windows);  // (K, D, H, W)
  TORCH_CHECK(logits.size(0) == static_cast<std::int64_t>(info.labels.size()), "network returned ",
              logits.size(0), " classes, the bundle has ", info.labels.size(), " labels");

  std::vector<std::int16_t> values;
  for (const auto& l : info.labels) values.push_back(static_cast<std::int16_t>(l.value));
  Volume labels;
  labels.geometry = pre.image.geometry;
  labels.source_path = pre.image.source_path;
  labels.pixel_type = "int16";
  labels.data = argmax_labels(logits, values);
  std::optional<Volume> probabilities;
  if (o.probabilities) {
    softmax_in_place(logits);
    Volume p = pre.image;
    p.data = logits;
    p.pixel_type = "float32";
    probabilities = std::move(p);
  }
  logits = at::Tensor();
  const double window_seconds = seconds_since(t);
  result.timings.network = network_seconds;
  result.timings.blending = window_seconds - network_seconds;

  // 4. Post-processing on the preprocessed grid.
  t = Clock::now();
  PostprocessOptions po;
  po.keep_largest_component = o.keep_largest_component;
  po.min_island_ml = o.min_island_ml;
  labels = postprocess_labels(labels, po);
  result.timings.postprocess = seconds_since(t);

  // 5. Back onto the input's exact grid.
  t = Clock::now();
  const Volume& input = channels.front();
  result.labels = preprocessor_.restore(labels, pre.records, VolumeKind::kLabels);
  const std::string diff = grid_difference(result.labels.geometry, input.geometry);
  if (!diff.empty()) throw ModelError("restoring the input grid failed: " + diff);
  result.labels.data = result.labels.data.to(at::kShort).contiguous();
  // restore() lands on the input grid; keep its exact numbers (no rounding
  // from inverting reorientation).
  result.labels.geometry = input.geometry;
  result.labels.source_path = input.source_path;
  result.labels.metadata = input.metadata;
  result.labels.pixel_type = "int16";
  if (probabilities) {
    Volume p = preprocessor_.restore(*probabilities, pre.records, VolumeKind::kProbabilities);
    p.data = p.data.to(at::kFloat).contiguous();
    p.geometry = input.geometry;
    p.source_path = input.source_path;
    result.probabilities = std::move(p);
  }
  const auto& sp = input.geometry.spacing;
  const double voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
  const std::vector<std::int64_t> counts = count_values(result.labels.data, values);
  for (std::size_t k = 0; k < info.labels.size(); ++k) {
    const auto& l = info.labels[k];
    LabelStatistics s;
    s.value = l.value;
    s.name = l.name;
    s.voxels = counts[k];
    s.volume_ml = static_cast<double>(s.voxels) * voxel_ml;
    result.label_statistics.push_back(s);
  }
  result.timings.restore = seconds_since(t);
  result.timings.total = seconds_since(start);
  if (o.progress && !o.progress(1.0)) throw Cancelled("segmentation cancelled");
  return result;
}

}  // namespace medseg::pipeline
