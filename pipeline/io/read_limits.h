#pragma once
// How large an image medseg agrees to read. A header is a claim, not a
// fact: a 350-byte file can announce 32767^3 voxels, and a small .nii.gz can
// inflate to gigabytes. Every reader checks the claim against this limit
// before it allocates for the voxels, so a hostile or broken file costs an
// error line, never the machine's memory.
//
// The limit is process-wide, like the thread count: it bounds what one
// process may allocate for any volume it reads, whichever layer reads it
// (training data, inference, evaluation, the GUI). Set it with the global
// `--max-voxels N` option or the training config's `dataset.max_voxels`.
#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace medseg::pipeline {

/// 1024^3 voxels: 4 GiB as float32, several times a whole-body CT
/// (512x512x2000 = 0.5 G voxels).
constexpr std::uint64_t kDefaultMaxVoxels = std::uint64_t{1} << 30;

/// The largest voxel count (product of all image sizes) a reader accepts.
std::uint64_t max_voxels();

/// Sets max_voxels(); `voxels` >= 1.
void set_max_voxels(std::uint64_t voxels);

/// Throws IoError "cannot read 'PATH': the header claims AxBxC = N voxels,
/// more than the limit of M (raise it with --max-voxels)" when the product
/// of `sizes` (any count of axes, each >= 0) exceeds max_voxels(); the
/// product is computed without overflow.
void check_voxel_count(const std::filesystem::path& path, const std::vector<std::uint64_t>& sizes);

/// How long the child process that reads DICOM (listing a folder's series,
/// reading a series or a file; pipeline/io/detail/child_process.h) may take
/// before it is killed and the read is an error: 600 s. Generous on purpose
/// (a 2000-slice series on a slow network share takes well under a minute);
/// it is there to stop a decoder that hangs, not to hurry a slow disk.
/// Process-wide like max_voxels(); the global `--dicom-timeout SECONDS`.
constexpr double kDefaultDicomTimeoutSeconds = 600.0;

double dicom_timeout_seconds();

/// Sets dicom_timeout_seconds(); `seconds` > 0 (infinity: no limit).
/// Throws ConfigError.
void set_dicom_timeout_seconds(double seconds);

}  // namespace medseg::pipeline
