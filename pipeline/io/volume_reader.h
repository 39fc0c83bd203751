#pragma once
// Reading 3D volumes: NIfTI, NRRD, MetaImage files and DICOM series folders.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/volume.h"

namespace medseg::pipeline {

struct ReadOptions {
  /// SeriesInstanceUID to read when a folder holds several DICOM series.
  std::string series_uid;
  /// The grid a DICOM SEG read as a label map is placed on (the scan it
  /// segments); without it, the grid spanned by the SEG's frames
  /// (see read_dicom_seg in pipeline/io/dicom_seg.h).
  std::optional<Geometry> seg_grid;
};

/// One DICOM series found in a folder.
struct DicomSeriesInfo {
  std::string uid;
  std::string description;
  std::string modality;
  /// From the series' first file, as stored: "Family^Given" names, the
  /// study date as YYYYMMDD (empty when absent).
  std::string patient_name;
  std::string patient_id;
  std::string study_date;
  std::string study_description;
  /// Files of the series, sorted by slice position.
  std::vector<std::string> files;
};

/// Lists the DICOM series directly inside `folder` (not recursive).
/// Throws IoError when the folder is missing or empty.
std::vector<DicomSeriesInfo> list_dicom_series(const std::filesystem::path& folder);

/// Reads one series that list_dicom_series() returned for `folder`, without
/// listing the folder again; like read_volume() on the folder otherwise.
/// The slices are decoded on up to at::get_num_threads() threads.
Volume read_dicom_series(const std::filesystem::path& folder, const DicomSeriesInfo& series);

/// Reads a 3D volume as float32 with its exact geometry (LPS). `path` is a
/// NIfTI (.nii, .nii.gz), NRRD, MetaImage (.mha/.mhd) or single DICOM file,
/// or a folder holding a DICOM series. A 4D file with one time point is read
/// as 3D. Throws IoError, with a one-line message naming the path, for a
/// missing path, an unrecognised or corrupt file, a 2D or 4D image, a
/// multi-component image, zero/negative spacing, a folder without a
/// (unique) DICOM series, or a DICOM series with missing/duplicate slices,
/// uneven slice spacing, mixed orientations or gantry tilt.
Volume read_volume(const std::filesystem::path& path, const ReadOptions& options = {});

/// Reads a label map: a DICOM SEG file (segments become label values, placed
/// on options.seg_grid when given), or like read_volume, then checks every voxel holds a
/// whole number in 0..32767 and returns the data as int16 (D, H, W).
/// Throws IoError naming the file and the first offending value.
Volume read_label_map(const std::filesystem::path& path, const ReadOptions& options = {});

}  // namespace medseg::pipeline
