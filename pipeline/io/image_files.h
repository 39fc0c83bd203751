#pragma once
// Which file names are images medseg reads, and the case id they stand for.
// One rule for batch inference (which file is which case, where its outputs
// go), evaluation (matching predictions to references) and `medseg synth`.
#include <filesystem>
#include <cstddef>
#include <optional>
#include <string>

namespace medseg::pipeline {

/// The image extension of `path`, lower case: ".nii.gz", ".nii", ".nrrd",
/// ".nhdr", ".mha", ".mhd" or ".dcm" (matched case-insensitively); "" for
/// other files.
std::string image_extension(const std::filesystem::path& path);

/// A case's id: the file name without its image extension ("ct_001.nii.gz"
/// -> "ct_001"); "" when the file is not an image.
std::string case_id_of(const std::filesystem::path& path);

/// nnU-Net's channel naming: file stem CASE_0000 is channel 0 of case CASE,
/// CASE_0001 channel 1, ... (an underscore and exactly four digits).
struct ChannelStem {
  std::string case_id;
  std::size_t channel = 0;
};

/// Splits "CASE_0003" into {"CASE", 3}; nullopt for a stem not so named.
std::optional<ChannelStem> split_channel_stem(const std::string& stem);

/// "CASE_0003" for ("CASE", 3).
std::string channel_stem(const std::string& case_id, std::size_t channel);

}  // namespace medseg::pipeline
