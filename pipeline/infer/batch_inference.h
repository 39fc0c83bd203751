#pragma once
// Batch inference: running one case end to end (read, segment, write label
// map + report atomically). Which cases the inputs name is case_discovery.h;
// the report and summary.csv are inference_report.h. `medseg infer` loops
// over the cases; the GUI can run a single one.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/infer/case_discovery.h"
#include "pipeline/infer/segmenter.h"

namespace medseg::pipeline {

/// A file format for a case's label map.
enum class LabelFormat { kNifti, kNrrd, kDicomSeg };

/// Parses "nifti,nrrd,dicom-seg" (one or several, comma-separated, no
/// repeats). Throws ConfigError.
std::vector<LabelFormat> parse_label_formats(const std::string& text);

struct CaseRunOptions {
  std::filesystem::path output_dir;
  /// Label map formats written per case; empty: the input's own format
  /// (InferenceCase::output_extension). kDicomSeg needs a DICOM series input.
  std::vector<LabelFormat> formats;
  bool overwrite = false;
  SegmentOptions segment;
  /// Written into each report, e.g. "0.4.0 (abc123)".
  std::string software_version;
  /// The bundle folder, written into each report.
  std::string model_path;
  /// kDicomSeg and a label map without any foreground label: write no SEG
  /// (a SEG needs at least one segment) and set CaseOutcome::dicom_seg_empty,
  /// instead of failing the case (`medseg serve`: nothing to send).
  bool skip_empty_dicom_seg = false;
};

enum class CaseStatus { kDone, kSkipped, kFailed };
std::string to_string(CaseStatus status);

struct CaseOutcome {
  std::string id;
  std::string input;
  CaseStatus status = CaseStatus::kFailed;
  /// The error (failed), or why skipped.
  std::string message;
  double seconds = 0.0;
  /// Of `seconds`: reading the inputs, and writing the label map (and
  /// probability maps) before the report.
  double read_seconds = 0.0;
  double write_seconds = 0.0;
  /// The first of `label_files` (the label map in the first format).
  std::filesystem::path label_file;
  /// One per format, in the order asked for.
  std::vector<std::filesystem::path> label_files;
  std::filesystem::path report_file;
  std::vector<std::filesystem::path> probability_files;
  /// Per label (from the report when skipped; empty if unknown).
  std::vector<LabelStatistics> labels;
  /// Sliding windows run and skipped (from the report when skipped; unset if
  /// unknown).
  std::optional<SlidingWindowStats> windows;
  /// No SEG was written: no foreground label (skip_empty_dicom_seg).
  bool dicom_seg_empty = false;
};

/// Where a case's label map and report go: CASE<input's extension>, or
/// with `formats`, CASE.nii.gz / CASE.nrrd / CASE.dcm (DICOM SEG) each.
std::filesystem::path label_output_path(const InferenceCase& c, const std::filesystem::path& output_dir);
std::vector<std::filesystem::path> label_output_paths(const InferenceCase& c, const std::filesystem::path& output_dir,
                                                      const std::vector<LabelFormat>& formats);
std::filesystem::path report_output_path(const InferenceCase& c, const std::filesystem::path& output_dir);

/// Runs one case: skips it when its label maps and report exist (unless
/// `overwrite`), otherwise reads the channels, segments and writes
/// CASE<ext> (uint8 when every label fits, else int16) per format (a DICOM
/// SEG referencing the input series for kDicomSeg), CASE_prob_<value><ext>
/// per foreground class when probabilities are on (float32), and CASE.json,
/// each atomically. Errors are caught and returned as a failed outcome,
/// except Cancelled, which propagates.
CaseOutcome run_inference_case(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options);

/// Creates `folder` if needed and checks that a file can be created in it.
/// Throws IoError naming the folder and the reason.
void ensure_writable_folder(const std::filesystem::path& folder);

}  // namespace medseg::pipeline
