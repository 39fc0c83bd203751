#pragma once
// DICOM Segmentation objects (SEG, PS3.3 A.51): writing a label map as a
// BINARY SEG that references the DICOM series it was computed from, and
// reading one back as a label map. DCMTK (dcmseg, dcmfg, dcmiod) does the
// encoding inside pipeline/io/dicom_seg_*.cpp only; nothing here includes it.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models/bundle.h"
#include "pipeline/io/segment_codes.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

struct DicomSegWriteOptions {
  /// Name and colour per label value (background 0 is never a segment); a
  /// label present in the map but missing here is called "label N" (grey).
  std::vector<models::LabelInfo> labels;
  /// Segment Algorithm Name, e.g. "medseg ct_head 1" (bundle name and version).
  std::string algorithm_name = "medseg";
  /// Software Versions (0018,1020) of the equipment, e.g. "0.1.0 (abc123)"
  /// ("unknown" when empty).
  std::string software_version;
  std::string series_description = "medseg segmentation";
  int series_number = 300;
};

/// Writes `labels` (int16 or uint8 values, (D, H, W), on the grid of the
/// series) as one BINARY DICOM SEG at `output`, atomically: a segment per
/// label value present (> 0), a frame per segment and non-empty slice, each
/// frame with its Plane Position and a Derivation Image Sequence naming the
/// source slice's SOP Instance UID; Patient, Study and Frame of Reference
/// copied from the series, new Series and SOP Instance UIDs.
/// `series_files` are the series' files (any order). Throws IoError when a
/// file is not DICOM, when the slices do not lie on the label map's grid
/// (size, orientation, spacing, one slice per k), or the write fails.
void write_dicom_seg(const Volume& labels, const std::vector<std::string>& series_files,
                     const std::filesystem::path& output, const DicomSegWriteOptions& options);

/// True when `path` is a DICOM file whose SOP Class is Segmentation Storage.
/// Never throws.
bool is_dicom_seg(const std::filesystem::path& path);

/// One segment of a SEG, as read.
struct DicomSegment {
  int number = 0;       ///< Segment Number (1, 2, ...)
  int label_value = 0;  ///< the label value it becomes (see read_dicom_seg)
  std::string label;
  std::string algorithm_type;  ///< AUTOMATIC, SEMIAUTOMATIC, MANUAL
  std::string algorithm_name;
  CodedConcept category;
  CodedConcept type;
  std::optional<std::array<std::uint8_t, 3>> rgb;  ///< from the CIELab value
  std::int64_t frames = 0;
};

struct DicomSegInfo {
  std::string sop_instance_uid;
  std::string series_uid;
  std::string series_description;
  std::string frame_of_reference_uid;
  /// Series Instance UID(s) of the source images (Referenced Series Sequence).
  std::vector<std::string> referenced_series_uids;
  std::int64_t rows = 0, columns = 0, frames = 0;
  std::vector<DicomSegment> segments;
};

/// The header of a SEG: segments, frames, references. Throws IoError.
DicomSegInfo read_dicom_seg_info(const std::filesystem::path& path);

/// Reads a BINARY (or FRACTIONAL, set where > half the maximum) SEG as an
/// int16 label map (D, H, W). Segment n becomes the label value medseg
/// recorded in its Segment Description ("medseg label value V"), else n;
/// where segments overlap, the higher segment number wins.
/// With `grid` (the scan the SEG segments, e.g. read from the referenced
/// series), the frames are placed on that grid by their Image Position
/// (Patient): every frame must lie on one of its slices, with the same
/// orientation, pixel spacing, rows and columns. Without it, the grid spans
/// the frames' positions only (slices before the first and after the last
/// non-empty one are not in the SEG), with the slice spacing from Spacing
/// Between Slices or the smallest gap between frames. Throws IoError naming
/// the file and the first frame that does not fit.
Volume read_dicom_seg(const std::filesystem::path& path, const std::optional<Geometry>& grid = std::nullopt);

}  // namespace medseg::pipeline
