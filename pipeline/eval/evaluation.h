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

/// Mean, median and (population, as numpy.std) standard deviation of the
/// finite values; all NaN when there are none.
SummaryStat summarize(const std::vector<double>& values);

/// Per case and label rows: case,label,dice,iou,hd95_mm,msd_mm,nsd,vol_pred_ml,vol_ref_ml,vol_diff_ml.
std::string evaluation_csv(const Evaluation& e);

/// One metric of one label summarised over the evaluated cases.
struct SummaryRow {
  int label = 0;
  std::string metric;  ///< a column name of evaluation_csv()
  SummaryStat stat;
};

/// For each label of `e.labels`, in order: dice, iou, hd95_mm, msd_mm, nsd,
/// volume_diff_ml over the cases that have that label. `count` says how many
/// cases are in each (a case where only one mask is empty has an infinite
/// HD95 and is left out of that row, like nnU-Net leaves out NaN).
std::vector<SummaryRow> summary_rows(const Evaluation& e);

/// summary_rows() as CSV: label,metric,mean,median,std,n.
std::string summary_csv(const std::vector<SummaryRow>& rows);

}  // namespace medseg::pipeline
