#include "pipeline/infer/inference_report.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/csv.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

nlohmann::ordered_json labels_json(const std::vector<LabelStatistics>& labels) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& l : labels) {
    j.push_back({{"value", l.value}, {"name", l.name}, {"voxels", l.voxels}, {"volume_ml", l.volume_ml}});
  }
  return j;
}


std::string number(double v, int precision = 6) {
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

}  // namespace

std::vector<LabelStatistics> labels_from_report(const fs::path& report) {
  std::vector<LabelStatistics> labels;
  try {
    std::ifstream in(report);
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& l : j.at("labels")) {
      labels.push_back({l.at("value").get<int>(), l.at("name").get<std::string>(), l.at("voxels").get<std::int64_t>(),
                        l.at("volume_ml").get<double>()});
    }
  } catch (const std::exception&) {
    labels.clear();  // unreadable old report: volumes unknown
  }
  return labels;
}

std::optional<SlidingWindowStats> windows_from_report(const fs::path& report) {
  try {
    std::ifstream in(report);
    const nlohmann::json j = nlohmann::json::parse(in).at("windows");
    return SlidingWindowStats{j.at("total").get<std::int64_t>(), j.at("skipped").get<std::int64_t>()};
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable, or written before windows were counted
  }
}

std::string inference_report_json(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options,
                                  const Segmentation& s, const CaseOutcome& outcome) {
  const auto& info = segmenter.info();
  const auto& g = s.labels.geometry;
  nlohmann::ordered_json j;
  j["case"] = c.id;
  nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
  for (const auto& p : c.channels) inputs.push_back(p.string());
  j["input"] = inputs;
  if (!c.series_uid.empty()) j["series_uid"] = c.series_uid;
  j["output"] = outcome.label_file.string();
  nlohmann::ordered_json probs = nlohmann::ordered_json::array();
  for (const auto& p : outcome.probability_files) probs.push_back(p.string());
  j["probabilities"] = probs;
  j["model"] = {{"name", info.name}, {"version", info.version}, {"path", options.model_path}};
  j["domain"] = s.domain;
  j["precision"] = to_string(s.precision);
  const auto& o = options.segment;
  if (o.domain == kAutoDomain) {
    // The methods and the check are the model's own unless the command line
    // gave them (`*_from`: "option", "model" or "default").
    const auto [methods, methods_from] = segmenter.adapt_methods(o);
    const auto [checked, checked_from] = segmenter.adapt_check(o);
    nlohmann::ordered_json adaptation{{"method", to_string(methods)},
                                      {"method_from", methods_from},
                                      {"checked", checked},
                                      {"checked_from", checked_from}};
    if (checked && s.adaptation_check) {
      // The model's own threshold unless the command line gave one.
      adaptation["min_change"] = s.adaptation_check->min_change;
      adaptation["min_change_from"] = s.adaptation_check->min_change_source;
    }
    adaptation["layers"] = o.adapt_layers;  // 0 = every batch-norm layer
    // What prior and tent drew and how much the model's statistics weighed.
    adaptation["prior_windows"] = segmenter.adapt_prior_windows(o);
    adaptation["prior_strength"] = segmenter.adapt_prior_strength(o);
    if (const auto& check = s.adaptation_check) {
      adaptation["kept"] = check->keep;
      if (check->keep) adaptation["chosen"] = check->candidates.at(check->chosen).name;
      nlohmann::ordered_json candidates = nlohmann::ordered_json::array();
      for (const auto& candidate : check->candidates) {
        candidates.push_back(
            {{"method", candidate.name}, {"entropy", candidate.entropy}, {"agreement", candidate.agreement}});
      }
      adaptation["candidates"] = candidates;
      adaptation["entropy_source"] = check->entropy_source;
      adaptation["entropy_adapted"] = check->entropy_adapted;
      adaptation["agreement"] = check->agreement;
      adaptation["reason"] = check->reason;
    } else {
      adaptation["kept"] = true;
    }
    j["adaptation"] = adaptation;
  }
  j["options"] = {{"precision", to_string(o.precision)},
                  {"overlap", o.overlap},
                  {"tta", o.mirror},
                  {"windows_per_batch", o.windows_per_batch},
                  {"skip_empty_windows", o.skip_empty_windows},
                  {"reference_network", o.reference_network},
                  {"keep_largest_component", o.keep_largest_component},
                  {"min_island_ml", o.min_island_ml}};
  j["geometry"] = {{"size", g.size}, {"spacing", g.spacing}, {"origin", g.origin}, {"direction", g.direction}};
  j["labels"] = labels_json(s.label_statistics);
  j["windows"] = {{"total", s.windows.windows}, {"skipped", s.windows.skipped}};
  const auto& t = s.timings;
  j["timings_s"] = {{"read", outcome.read_seconds}, {"preprocess", t.preprocess},   {"adaptation", t.adaptation},
                    {"network", t.network},         {"blending", t.blending},       {"postprocess", t.postprocess},
                    {"restore", t.restore},         {"segmentation", t.total},      {"write", outcome.write_seconds},
                    {"total", outcome.seconds}};
  j["medseg_version"] = options.software_version;
  return j.dump(2) + "\n";
}

std::string inference_summary_csv(const models::BundleInfo& info, const std::vector<CaseOutcome>& outcomes) {
  std::string csv = "case,status,seconds,input,message";
  for (std::size_t k = 1; k < info.labels.size(); ++k) csv += "," + core::csv_field(info.labels[k].name + "_ml");
  csv += ",windows,windows_skipped\n";
  for (const auto& o : outcomes) {
    csv += core::csv_field(o.id) + "," + to_string(o.status) + "," + number(o.seconds, 4) + "," + core::csv_field(o.input) + "," +
           core::csv_field(o.message);
    for (std::size_t k = 1; k < info.labels.size(); ++k) {
      csv += ",";
      for (const auto& l : o.labels) {
        if (l.value == info.labels[k].value) csv += number(l.volume_ml, 8);
      }
    }
    if (o.windows) {
      csv += "," + std::to_string(o.windows->windows) + "," + std::to_string(o.windows->skipped);
    } else {
      csv += ",,";
    }
    csv += "\n";
  }
  return csv;
}

}  // namespace medseg::pipeline
