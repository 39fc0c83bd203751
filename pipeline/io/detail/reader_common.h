#pragma once
// Internal to pipeline/io: what the file reader (volume_reader.cpp) and the
// DICOM reader (dicom_reader.cpp) share — the error wording, the pixel type
// names, the geometry checks, taking over an ITK reader's output.
#include <itkImageIOBase.h>

#include <filesystem>
#include <string>

#include "pipeline/io/detail/itk_image.h"
#include "pipeline/io/volume_reader.h"

namespace medseg::pipeline::detail {

/// Throws IoError "cannot read 'PATH': REASON".
[[noreturn]] void fail_to_read(const std::filesystem::path& path, const std::string& reason);

/// "int16", "float32", ... for an ITK component type.
std::string pixel_type_name(itk::IOComponentEnum component);

/// Positive finite spacing, at least one voxel, a non-singular direction.
void check_geometry(const std::filesystem::path& path, const Geometry& g);

/// Wraps a reader's output (no copy) and refuses non-finite voxels.
Volume take_output(itk_bridge::FloatImage::Pointer image, const std::filesystem::path& path,
                   const std::string& pixel_type);

/// Whether GDCM reads `file` as a DICOM image, asked in a child process
/// (dicom_reader.cpp). Throws IoError naming the file when GDCM must not be
/// handed it (dicom_screen.h) or crashes on it.
bool is_dicom_file(const std::filesystem::path& file);

/// Reads one DICOM file or an ordered series (dicom_reader.cpp).
Volume read_dicom_files(const std::filesystem::path& path, std::vector<std::string> files);

/// The folder's single series, or the one ReadOptions::series_uid names.
Volume read_dicom_folder(const std::filesystem::path& folder, const ReadOptions& options);

}  // namespace medseg::pipeline::detail
