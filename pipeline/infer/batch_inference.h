#pragma once
// Batch inference: which cases the command-line inputs name, and running one
// case end to end (read, segment, write label map + report atomically).
// `medseg infer` loops over the cases; the GUI can run a single one.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"

namespace medseg::pipeline {

/// One case: the files of its channels (or a DICOM series folder).
struct InferenceCase {
  /// Output name: CASE in CASE.nii.gz / CASE.json.
  std::string id;
  /// One path per input channel (files, or one DICOM folder).
  std::vector<std::filesystem::path> channels;
  /// SeriesInstanceUID when `channels` is a DICOM folder with several series.
  std::string series_uid;
  /// The series as listed when `channels` is a DICOM folder, so reading it
  /// does not list the folder again (GDCM parses every file to list it).
  DicomSeriesInfo dicom_series;
  /// Extension of the label map: the input's format (".nii.gz", ".nii",
  /// ".nrrd", ".mha"), ".nii.gz" for DICOM input.
  std::string output_extension = ".nii.gz";
  /// Why the input cannot be a case (the case is then reported as failed).
  std::string error;
  /// What to show for the case: its first input path (+ series).
  std::string input_text() const;
};

/// Turns inputs into cases: image files (.nii, .nii.gz, .nrrd, .nhdr, .mha,
/// .mhd); folders of such files (not recursive); DICOM series folders (one
/// case per series); .txt/.csv lists of such paths (one per line, CSV: the
/// first column; relative paths are relative to the list; empty lines and
/// lines starting with '#' are skipped, and a CSV header line is recognised
/// when its first field is not a path). With `in_channels` > 1 files named
/// nnU-Net style, CASE_0000.nii.gz, CASE_0001.nii.gz, ..., form one case;
/// with one channel a trailing _0000 is dropped from the case name. Inputs
/// that cannot become a case (missing path, unknown extension, incomplete
/// channels, duplicate names) yield a case with `error` set, so one bad input
/// does not stop the others.
std::vector<InferenceCase> collect_inference_cases(const std::vector<std::filesystem::path>& inputs,
                                                   std::int64_t in_channels);

struct CaseRunOptions {
  std::filesystem::path output_dir;
  bool overwrite = false;
  SegmentOptions segment;
  /// Written into each report, e.g. "0.4.0 (abc123)".
  std::string software_version;
  /// The bundle folder, written into each report.
  std::string model_path;
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
  std::filesystem::path label_file;
  std::filesystem::path report_file;
  std::vector<std::filesystem::path> probability_files;
  /// Per label (from the report when skipped; empty if unknown).
  std::vector<LabelStatistics> labels;
};

/// Where a case's label map and report go.
std::filesystem::path label_output_path(const InferenceCase& c, const std::filesystem::path& output_dir);
std::filesystem::path report_output_path(const InferenceCase& c, const std::filesystem::path& output_dir);

/// Runs one case: skips it when its label map and report exist (unless
/// `overwrite`), otherwise reads the channels, segments and writes
/// CASE<ext> (uint8 when every label fits, else int16), CASE_prob_<value><ext>
/// per foreground class when probabilities are on (float32), and CASE.json,
/// each atomically. Errors are caught and returned as a failed outcome,
/// except Cancelled, which propagates.
CaseOutcome run_inference_case(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options);

/// The report JSON of a finished case (see docs/inference.md).
std::string inference_report_json(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options,
                                  const Segmentation& s, const CaseOutcome& outcome);

/// summary.csv: case, status, seconds, input, message, then volume_ml of each
/// foreground label (columns named after the bundle's labels).
std::string inference_summary_csv(const models::BundleInfo& info, const std::vector<CaseOutcome>& outcomes);

/// Creates `folder` if needed and checks that a file can be created in it.
/// Throws IoError naming the folder and the reason.
void ensure_writable_folder(const std::filesystem::path& folder);


}  // namespace medseg::pipeline
