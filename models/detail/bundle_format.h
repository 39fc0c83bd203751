#pragma once
// Internal to models/: model.yaml <-> BundleInfo — the schema, its checks and
// the YAML text (bundle_format.cpp). bundle.cpp does the file I/O: weights,
// checksums, atomic saving, loading tensors into a network.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>

#include "models/bundle.h"

namespace medseg::models::detail {

inline constexpr const char* kInfoFile = "model.yaml";
inline constexpr const char* kWeightsFile = "weights.pt";

struct WeightsEntry {
  std::string file;
  std::string checksum;  ///< FNV-1a 64 of the file, 16 hex digits
};

/// model.yaml's content: the info plus where the weights are.
struct ParsedInfo {
  BundleInfo info;
  WeightsEntry weights;
};

/// model.yaml without the weights section.
nlohmann::ordered_json info_json(const BundleInfo& info);

/// YAML text of `tree`, checked to read back as `tree`.
std::string to_yaml_text(const nlohmann::ordered_json& tree);

/// The first problem of `info` as (key, what), or an empty key if none:
/// the checks both save_bundle and read_bundle_info make.
std::pair<std::string, std::string> find_problem(const BundleInfo& info);

/// Reads and checks DIRECTORY/model.yaml. Throws ModelError naming the file,
/// key and line.
ParsedInfo read_info(const std::filesystem::path& directory);

}  // namespace medseg::models::detail
