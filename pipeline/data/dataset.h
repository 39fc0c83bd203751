#pragma once
// Training datasets in the formats researchers already have.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// One case: its input channels (in channel order), its label map, and the
/// scanner or site it came from ("" when unknown).
struct CaseEntry {
  std::string id;
  std::vector<std::filesystem::path> images;
  std::filesystem::path label;  ///< empty when the case has no label
  std::string domain;
};

struct Dataset {
  std::string name;
  /// dataset.json, or the YAML case list, the dataset was read from.
  std::filesystem::path source;
  /// Channel names in order, e.g. {"CT"} or {"T1", "T2"}.
  std::vector<std::string> channel_names;
  /// Label value -> name; 0 is background.
  std::map<int, std::string> labels;
  std::vector<CaseEntry> cases;
};

/// Reads (a) an nnU-Net v2 raw dataset folder (dataset.json with
/// channel_names/labels, imagesTr/CASE_XXXX.ext, labelsTr/CASE.ext),
/// (b) a Medical Segmentation Decathlon folder or dataset.json ("training"
/// list of image/label pairs), or (c) a YAML case list (.yaml/.yml).
/// Structural problems (no dataset.json, invalid JSON/YAML, missing keys)
/// throw ConfigError naming the file (and key, and line for YAML). Problems
/// with individual cases (missing files, duplicate ids) are left for
/// check_dataset(), which reports all of them.
Dataset read_dataset(const std::filesystem::path& path);

Dataset read_nnunet_dataset(const std::filesystem::path& folder);
Dataset read_msd_dataset(const std::filesystem::path& folder_or_json);
/// YAML case list:
///   name: brain                # optional
///   channels: [T1]             # optional, default one channel "image"
///   labels: {0: background, 1: brain}
///   cases:
///     - id: ch2
///       images: [mri/t1.nii.gz]   # or image: mri/t1.nii.gz
///       label: mri/brain_mask.nii.gz
///       domain: scanner_a         # optional
/// Relative paths are relative to the YAML file's folder.
Dataset read_case_list(const std::filesystem::path& yaml_file);

/// Distinct domain names in order of first appearance ("" excluded).
std::vector<std::string> domain_names(const Dataset& dataset);

}  // namespace medseg::pipeline
