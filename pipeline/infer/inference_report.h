#pragma once
// What a batch run leaves beside the label maps: CASE.json per case and
// summary.csv (formats in docs/inference.md).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/infer/batch_inference.h"

namespace medseg::pipeline {

/// The report JSON of a finished case (see docs/inference.md).
std::string inference_report_json(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options,
                                  const Segmentation& s, const CaseOutcome& outcome);

/// summary.csv: case, status, seconds, input, message, then volume_ml of each
/// foreground label (columns named after the bundle's labels), then windows
/// and windows_skipped (sliding windows in all, and not run for lack of body).
std::string inference_summary_csv(const models::BundleInfo& info, const std::vector<CaseOutcome>& outcomes);

/// The label volumes recorded in a finished case's report (empty when the
/// report cannot be read), for a skipped case's summary row.
std::vector<LabelStatistics> labels_from_report(const std::filesystem::path& report);

/// The window counts recorded in a finished case's report (unset when the
/// report cannot be read or predates them).
std::optional<SlidingWindowStats> windows_from_report(const std::filesystem::path& report);

}  // namespace medseg::pipeline
