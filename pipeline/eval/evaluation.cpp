#include "pipeline/eval/evaluation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/image_files.h"
#include "pipeline/io/volume_reader.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

std::map<std::string, fs::path> files_by_id(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError("cannot read '" + dir.string() + "': not a folder");
  std::map<std::string, fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    // Single DICOM files are slices, not label maps (a reference folder of
    // them would otherwise turn into one "case" per slice), unless they are
    // DICOM SEGs.
    const std::string id = case_id_of(entry.path());
    if (id.empty() || !entry.is_regular_file()) continue;
    if (image_extension(entry.path()) != ".dcm" || is_dicom_seg(entry.path())) out[id] = entry.path();
  }
  return out;
}

}  // namespace

Evaluation evaluate_folders(const fs::path& pred_dir, const fs::path& ref_dir, std::vector<int> labels,
                            const MetricOptions& options) {
  const auto preds = files_by_id(pred_dir);
  const auto refs = files_by_id(ref_dir);
  Evaluation e;
  for (const auto& [id, path] : preds) {
    if (refs.count(id) == 0) e.unmatched_predictions.push_back(id);
  }
  for (const auto& [id, path] : refs) {
    if (preds.count(id) == 0) e.unmatched_references.push_back(id);
  }
  const bool auto_labels = labels.empty();
  std::set<int> found;
  for (const auto& [id, ref_path] : refs) {
    const auto it = preds.find(id);
    if (it == preds.end()) continue;
    try {
      const Volume pred = read_label_map(it->second);
      // A DICOM SEG reference may hold only its non-empty slices: it is
      // placed on the prediction's grid (the scan's), not on its own.
      ReadOptions ref_options;
      ref_options.seg_grid = pred.geometry;
      const Volume ref = read_label_map(ref_path, ref_options);
      std::vector<int> case_labels = labels;
      if (auto_labels) {
        const at::Tensor values = std::get<0>(at::_unique(at::cat({ref.data.reshape({-1}), pred.data.reshape({-1})})));
        case_labels.clear();
        for (std::int64_t i = 0; i < values.numel(); ++i) {
          const int v = values[i].item<int>();
          if (v != 0) case_labels.push_back(v);
        }
      }
      found.insert(case_labels.begin(), case_labels.end());
      e.cases.push_back({id, compare_label_maps(pred, ref, case_labels, options)});
    } catch (const Error& err) {
      e.failed.push_back(id + ": " + err.what());
    }
  }
  e.labels = auto_labels ? std::vector<int>(found.begin(), found.end()) : labels;
  return e;
}

SummaryStat summarize(const std::vector<double>& values) {
  std::vector<double> v;
  for (double x : values) {
    if (std::isfinite(x)) v.push_back(x);
  }
  SummaryStat s;
  s.count = static_cast<std::int64_t>(v.size());
  if (v.empty()) {
    s.mean = s.median = s.std = std::nan("");
    return s;
  }
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(v.size()));
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

std::string evaluation_csv(const Evaluation& e) {
  std::ostringstream out;
  out.precision(10);
  out << "case,label,dice,iou,hd95_mm,msd_mm,nsd,volume_pred_ml,volume_ref_ml,volume_diff_ml\n";
  for (const auto& c : e.cases) {
    for (const auto& m : c.labels) {
      out << c.case_id << "," << m.label << "," << m.dice << "," << m.iou << "," << m.hd95_mm << ","
          << m.mean_surface_distance_mm << "," << m.surface_dice << "," << m.volume_pred_ml << ","
          << m.volume_ref_ml << "," << m.volume_difference_ml << "\n";
    }
  }
  return out.str();
}

std::vector<SummaryRow> summary_rows(const Evaluation& e) {
  using Field = double LabelMetrics::*;
  static const std::pair<const char*, Field> kMetrics[] = {
      {"dice", &LabelMetrics::dice},
      {"iou", &LabelMetrics::iou},
      {"hd95_mm", &LabelMetrics::hd95_mm},
      {"msd_mm", &LabelMetrics::mean_surface_distance_mm},
      {"nsd", &LabelMetrics::surface_dice},
      {"volume_diff_ml", &LabelMetrics::volume_difference_ml},
  };
  std::vector<SummaryRow> rows;
  for (int label : e.labels) {
    for (const auto& [name, field] : kMetrics) {
      std::vector<double> values;
      for (const auto& c : e.cases) {
        for (const auto& m : c.labels) {
          if (m.label == label) values.push_back(m.*field);
        }
      }
      rows.push_back({label, name, summarize(values)});
    }
  }
  return rows;
}

std::string summary_csv(const std::vector<SummaryRow>& rows) {
  std::ostringstream out;
  out.precision(10);
  out << "label,metric,mean,median,std,n\n";
  for (const auto& r : rows) {
    out << r.label << "," << r.metric << "," << r.stat.mean << "," << r.stat.median << "," << r.stat.std << ","
        << r.stat.count << "\n";
  }
  return out.str();
}

}  // namespace medseg::pipeline
