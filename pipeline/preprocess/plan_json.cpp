#include "pipeline/preprocess/plan_json.h"

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "core/error.h"

namespace medseg::pipeline {
using nlohmann::json;

namespace {

constexpr core::EnumNames<Interpolation, 3> kInterpolations{
    "plan image_interpolation",
    {{{Interpolation::kNearest, "nearest"}, {Interpolation::kLinear, "linear"}, {Interpolation::kBSpline, "bspline"}}}};
constexpr core::EnumNames<LabelInterpolation, 2> kLabelInterpolations{
    "plan label_interpolation",
    {{{LabelInterpolation::kNearest, "nearest"}, {LabelInterpolation::kPerLabelLinear, "per_label_linear"}}}};

json stats_json(const IntensityStats& s) {
  return {{"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max}, {"median", s.median},
          {"percentile_00_5", s.percentile_00_5}, {"percentile_99_5", s.percentile_99_5}};
}

json geometry_json(const Geometry& g) {
  return {{"size", g.size}, {"spacing", g.spacing}, {"origin", g.origin}, {"direction", g.direction}};
}

}  // namespace

std::string plan_to_json(const PreprocessingPlan& p) {
  json norm = json::array();
  for (const auto& r : p.normalization) {
    norm.push_back({{"kind", to_string(r.kind)}, {"use_nonzero_mask", r.use_nonzero_mask},
                    {"window_low", r.window_low}, {"window_high", r.window_high},
                    {"percentile_low", r.percentile_low}, {"percentile_high", r.percentile_high},
                    {"stats", stats_json(r.stats)}});
  }
  const json j = {{"orientation", p.orientation},
                  {"crop_to_nonzero", p.crop_to_nonzero},
                  {"target_spacing", p.target_spacing},
                  {"image_interpolation", kInterpolations.name(p.image_interpolation)},
                  {"label_interpolation", kLabelInterpolations.name(p.label_interpolation)},
                  {"normalization", norm}};
  return j.dump();
}

PreprocessingPlan plan_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    PreprocessingPlan p;
    p.orientation = j.at("orientation").get<std::string>();
    p.crop_to_nonzero = j.at("crop_to_nonzero").get<bool>();
    p.target_spacing = j.at("target_spacing").get<std::array<double, 3>>();
    p.image_interpolation = kInterpolations.parse(j.at("image_interpolation").get<std::string>());
    p.label_interpolation = kLabelInterpolations.parse(j.at("label_interpolation").get<std::string>());
    p.normalization.clear();
    for (const auto& r : j.at("normalization")) {
      NormalizationRecipe n;
      n.kind = parse_normalization_kind(r.at("kind").get<std::string>());
      n.use_nonzero_mask = r.at("use_nonzero_mask").get<bool>();
      n.window_low = r.at("window_low").get<double>();
      n.window_high = r.at("window_high").get<double>();
      n.percentile_low = r.at("percentile_low").get<double>();
      n.percentile_high = r.at("percentile_high").get<double>();
      const json& s = r.at("stats");
      n.stats = {s.at("mean").get<double>(),   s.at("std").get<double>(),
                 s.at("min").get<double>(),    s.at("max").get<double>(),
                 s.at("median").get<double>(), s.at("percentile_00_5").get<double>(),
                 s.at("percentile_99_5").get<double>()};
      p.normalization.push_back(n);
    }
    return p;
  } catch (const json::exception& e) {
    throw ConfigError(std::string("preprocessing plan: ") + e.what());
  }
}

std::string geometry_to_json(const Geometry& g) { return geometry_json(g).dump(); }

Geometry geometry_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    Geometry g;
    g.size = j.at("size").get<std::array<std::int64_t, 3>>();
    g.spacing = j.at("spacing").get<std::array<double, 3>>();
    g.origin = j.at("origin").get<std::array<double, 3>>();
    g.direction = j.at("direction").get<std::array<double, 9>>();
    return g;
  } catch (const json::exception& e) {
    throw IoError(std::string("geometry: ") + e.what());
  }
}

}  // namespace medseg::pipeline
