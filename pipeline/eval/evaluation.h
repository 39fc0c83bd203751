#pragma once
// Evaluating a folder of predictions against a folder of references.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/eval/metrics.h"

namespace medseg::pipeline {

struct CaseEvaluation {
  std::string case_id;
  std::vector<LabelMetrics> labels;
};

struct SummaryStat {
  double mean = 0, median = 0, std = 0;
  std::int64_t count = 0;  ///< finite values summarised (NaN and inf skipped)
};

struct Evaluation {
  std::vector<CaseEvaluation> cases;
  std::vector<std::string> unmatched_predictions;
  std::vector<std::string> unmatched_references;
  std::vector<std::string> failed;  ///< "case: error" for unreadable pairs
  std::vector<int> labels;
};


/// Matches files by case id and computes metrics for `labels` (empty = every
/// nonzero label found in the references).
Evaluation evaluate_folders(const std::filesystem::path& pred_dir, const std::filesystem::path& ref_dir,
                            std::vector<int> labels, const MetricOptions& options = {});

/// Mean, median, std of the finite values.
SummaryStat summarize(const std::vector<double>& values);

/// Per case and label rows: case,label,dice,iou,hd95_mm,msd_mm,nsd,vol_pred_ml,vol_ref_ml,vol_diff_ml.
std::string evaluation_csv(const Evaluation& e);

}  // namespace medseg::pipeline
