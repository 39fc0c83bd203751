#pragma once
// Checks ITK's NIfTI reader does not make: it silently turns zero spacing
// into 1 mm, reads a truncated .nii.gz without complaint (zero-filling) and
// replaces NaN voxels by 0.
#include <filesystem>

namespace medseg::pipeline {

/// True for names ending in .nii or .nii.gz.
bool is_nifti_path(const std::filesystem::path& path);

/// Validates a NIfTI-1 file's header and length: spatial pixdim must be
/// positive and finite, and the (decompressed) file must hold all voxel
/// data its header announces, and float voxels must be finite (ITK's reader
/// silently turns NaN into 0). NIfTI-2 headers pass through unchecked.
/// Throws IoError naming the file. Costs one extra read (and decompression)
/// pass over the file.
void check_nifti_file(const std::filesystem::path& path);

}  // namespace medseg::pipeline
