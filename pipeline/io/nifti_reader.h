#pragma once
// NIfTI-1 checks ITK's reader does not make (it silently turns zero spacing
// into 1 mm, reads a truncated .nii.gz without complaint, zero-filling, and
// replaces NaN voxels by 0), and a one-pass voxel reader: ITK still reads the
// header and geometry, but the voxels are decompressed once, straight into
// float32, instead of once for the checks and again by ITK (for a
// 512x512x300 .nii.gz CT that halves the read time).
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace medseg::pipeline {

/// Throws IoError naming `path` and counting the voxels if any of the float
/// `voxels` is NaN or infinite (for every reader: ITK's replace NaN by 0 or
/// pass it on silently).
void refuse_non_finite(const std::filesystem::path& path, const at::Tensor& voxels);

/// True for names ending in .nii or .nii.gz.
bool is_nifti_path(const std::filesystem::path& path);

/// Validates a NIfTI-1 header without reading voxels: dim and bitpix sane,
/// spatial pixdim positive and finite. NIfTI-2 headers pass unchecked.
/// Throws IoError naming the file.
void check_nifti_header(const std::filesystem::path& path);

/// Header checks plus the voxel data: the (decompressed) file must hold all
/// the voxels its header announces, and float voxels must be finite. One
/// full read and decompression; for types read_nifti_voxels() declines.
void check_nifti_file(const std::filesystem::path& path);

/// The voxels of a NIfTI-1 file as float32 (D, H, W) = (size[2], size[1],
/// size[0]), in file order (which is ITK's), converted and scaled by
/// scl_slope / scl_inter bit for bit as ITK's NiftiImageIO and
/// ImageFileReader do, with one deliberate difference: scl_slope 0 means no
/// scaling at all (the NIfTI standard, nibabel), where ITK 5.2 would still
/// add scl_inter. Throws IoError for truncated data and non-finite values. Returns
/// nothing for files it does not handle (NIfTI-2, complex or RGB voxels,
/// more than `size`'s voxels): those go through check_nifti_file() + ITK.
std::optional<at::Tensor> read_nifti_voxels(const std::filesystem::path& path,
                                            const std::array<std::int64_t, 3>& size);

}  // namespace medseg::pipeline
