#pragma once
// Which cases the inputs of `medseg infer` / `medseg adapt` name: image
// files, folders, DICOM series folders, lists, nnU-Net channel files.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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

}  // namespace medseg::pipeline
