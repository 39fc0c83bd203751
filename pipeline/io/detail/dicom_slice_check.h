#pragma once
// Internal to pipeline/io: refuses DICOM series whose slices do not form a
// regular grid, which ITK's series reader would silently stack anyway.
#include <filesystem>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// Returns the series' `files` sorted by position along the slice normal.
/// Throws IoError naming `series_path` for mixed orientations, duplicate
/// positions, uneven spacing (missing slices) or gantry tilt (slices
/// sheared along the normal).
std::vector<std::string> sort_and_check_dicom_slices(const std::filesystem::path& series_path,
                                                     const std::vector<std::string>& files);

}  // namespace medseg::pipeline
