#pragma once
// Writing a volume as a DICOM series (one file per slice), so that a sample
// scan, e.g. data_samples/ct/head_ct.nii.gz, can be handled as a PACS
// would hand it over: tests and demos of DICOM input and DICOM SEG output.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/volume.h"

namespace medseg::pipeline {

struct DicomSeriesWriteOptions {
  /// "CT" (CT Image Storage) or "MR" (MR Image Storage).
  std::string modality = "CT";
  std::string patient_name = "MEDSEG^SAMPLE";
  std::string patient_id = "MEDSEG-0001";
  std::string study_description = "medseg sample";
  std::string series_description;
  /// New UIDs are made when empty.
  std::string study_uid;
  std::string series_uid;
};

/// Writes `volume` to `folder` as IM00001.dcm, IM00002.dcm, ... (slice k
/// at Image Position (Patient) = the world position of voxel (0, 0, k), the
/// volume's orientation and spacing), int16 pixels with a Rescale Slope and
/// Intercept that keep whole values exact. The folder is filled under a
/// temporary name and put in place at the end, replacing any folder there.
/// Returns the files in k order. Throws IoError or ConfigError (modality).
std::vector<std::filesystem::path> write_dicom_series(const Volume& volume, const std::filesystem::path& folder,
                                                      const DicomSeriesWriteOptions& options = {});

}  // namespace medseg::pipeline
