#pragma once
// Builds the small real volumes in data_samples/ from Debian packages.
#include <filesystem>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// One written sample file and how it was derived.
struct SampleFile {
  std::filesystem::path path;
  std::string derivation;
};

/// From mricron-data's `ch2.nii.gz` and `ch2bet.nii.gz` in `templates`:
/// `mri/t1.nii.gz` (Colin27 T1, linear resampling to 2 mm, uint8) and
/// `mri/brain_mask.nii.gz` (ch2bet > 0, resampled as a label map to 2 mm).
std::vector<SampleFile> make_mri_samples(const std::filesystem::path& templates,
                                         const std::filesystem::path& output);

/// From the unpacked InVesalius project in `project` (Cranium.inv3):
/// `ct/head_ct.nii.gz` (HU, linear resampling to 2 mm, int16) and
/// `ct/head_ct_labels.nii.gz` (1 = bone: mask "226..3071 HU"; 2 = other head
/// tissue: largest component of mask "-142..2986 HU" minus bone).
std::vector<SampleFile> make_ct_samples(const std::filesystem::path& project,
                                        const std::filesystem::path& output);

}  // namespace medseg::pipeline
