#pragma once
// Which file names are images medseg reads, and the case id they stand for.
// One rule for batch inference (which file is which case, where its outputs
// go), evaluation (matching predictions to references) and `medseg synth`.
#include <filesystem>
#include <string>

namespace medseg::pipeline {

/// The image extension of `path`, lower case: ".nii.gz", ".nii", ".nrrd",
/// ".nhdr", ".mha", ".mhd" or ".dcm" (matched case-insensitively); "" for
/// other files.
std::string image_extension(const std::filesystem::path& path);

/// A case's id: the file name without its image extension ("ct_001.nii.gz"
/// -> "ct_001"); "" when the file is not an image.
std::string case_id_of(const std::filesystem::path& path);

}  // namespace medseg::pipeline
