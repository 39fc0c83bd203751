// nnU-Net v2 raw layout and Medical Segmentation Decathlon dataset.json.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/data/dataset.h"
#include "pipeline/io/image_files.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read '" + file.string() + "': no such file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e309
    throw ConfigError("cannot read '" + file.string() + "': invalid JSON (" + core::single_line(e.what()) + ")");
  }
}

// A string value, or a ConfigError naming the key (get<std::string>() would
// throw nlohmann's type_error, an internal error).
std::string text(const json& v, const std::string& key, const fs::path& file) {
  if (!v.is_string()) {
    throw ConfigError("'" + file.string() + "': key '" + key + "' must be text, got " + core::quote_short(v.dump()));
  }
  return v.get<std::string>();
}

const json& require(const json& j, const std::string& key, const fs::path& file) {
  if (!j.is_object() || !j.contains(key)) {
    throw ConfigError("'" + file.string() + "': missing key '" + key + "'");
  }
  return j.at(key);
}

int to_int(const json& v, const std::string& key, const fs::path& file) {
  if (v.is_number_integer() && v.get<std::int64_t>() >= std::numeric_limits<int>::min() &&
      v.get<std::int64_t>() <= std::numeric_limits<int>::max() &&
      !(v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))) {
    return v.get<int>();
  }
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const int n = std::stoi(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return n;
    } catch (const std::exception&) {
    }
  }
  throw ConfigError("'" + file.string() + "': key '" + key + "' must be an integer, got " + core::quote_short(v.dump()));
}

// Ordered channel names from {"0": "CT", "1": "T2"}.
std::vector<std::string> channel_list(const json& channels, const std::string& key, const fs::path& file) {
  if (!channels.is_object() || channels.empty()) {
    throw ConfigError("'" + file.string() + "': key '" + key + "' must map channel numbers to names");
  }
  std::map<int, std::string> ordered;
  for (const auto& [k, v] : channels.items()) ordered[to_int(json(k), key, file)] = text(v, key + "." + k, file);
  std::vector<std::string> names;
  int expected = 0;
  for (const auto& [index, name] : ordered) {
    if (index != expected++) {
      throw ConfigError("'" + file.string() + "': key '" + key + "' must number channels 0, 1, ...");
    }
    names.push_back(name);
  }
  return names;
}

}  // namespace

Dataset read_nnunet_dataset(const fs::path& folder) {
  const fs::path file = folder / "dataset.json";
  const json j = read_json(file);
  Dataset d;
  d.source = file;
  d.name = j.contains("name") ? text(j["name"], "name", file) : folder.filename().string();
  d.channel_names = channel_list(require(j, "channel_names", file), "channel_names", file);
  // nnU-Net v2: {"background": 0, "liver": 1}; region-based training (lists
  // of labels per region) is not supported.
  for (const auto& [name, value] : require(j, "labels", file).items()) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > 32767) {
      throw ConfigError("'" + file.string() + "': label '" + name +
                        "' must be one integer 0..32767 (region-based labels are not supported)");
    }
    d.labels[value.get<int>()] = name;
  }
  const std::string ending = text(require(j, "file_ending", file), "file_ending", file);
  const fs::path images = folder / "imagesTr";
  if (!fs::is_directory(images)) throw ConfigError("'" + folder.string() + "': no imagesTr folder");

  // Case ids from CASE_0000<ending>; channels _0001... must exist alongside.
  std::set<std::string> ids;
  for (const auto& entry : fs::directory_iterator(images)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= ending.size() + 5 || name.compare(name.size() - ending.size(), ending.size(), ending) != 0) {
      continue;
    }
    if (const auto c = split_channel_stem(name.substr(0, name.size() - ending.size()))) ids.insert(c->case_id);
  }
  for (const auto& id : ids) {
    CaseEntry c;
    c.id = id;
    for (std::size_t ch = 0; ch < d.channel_names.size(); ++ch) {
      c.images.push_back(images / (channel_stem(id, ch) + ending));
    }
    c.label = folder / "labelsTr" / (id + ending);
    d.cases.push_back(std::move(c));
  }
  if (d.cases.empty()) {
    throw ConfigError("'" + images.string() + "': no images named CASE_0000" + ending);
  }
  return d;
}

Dataset read_msd_dataset(const fs::path& folder_or_json) {
  const fs::path file =
      fs::is_directory(folder_or_json) ? folder_or_json / "dataset.json" : folder_or_json;
  const fs::path root = file.parent_path();
  const json j = read_json(file);
  Dataset d;
  d.source = file;
  d.name = j.contains("name") ? text(j["name"], "name", file) : root.filename().string();
  d.channel_names = channel_list(require(j, "modality", file), "modality", file);
  for (const auto& [value, name] : require(j, "labels", file).items()) {
    d.labels[to_int(json(value), "labels", file)] = text(name, "labels." + value, file);
  }
  const json& training = require(j, "training", file);
  if (!training.is_array()) throw ConfigError("'" + file.string() + "': key 'training' must be a list");
  for (std::size_t i = 0; i < training.size(); ++i) {
    const json& item = training[i];
    const std::string key = "training[" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("image")) {
      throw ConfigError("'" + file.string() + "': " + key + " needs an 'image'");
    }
    CaseEntry c;
    const fs::path image = root / text(item["image"], key + ".image", file);
    c.images = {image};
    if (item.contains("label")) c.label = root / text(item["label"], key + ".label", file);
    // Id = file name without .nii.gz/.nii (MSD: "./imagesTr/liver_3.nii.gz").
    std::string id = image.filename().string();
    for (const char* ext : {".nii.gz", ".nii"}) {
      const std::string e = ext;
      if (id.size() > e.size() && id.compare(id.size() - e.size(), e.size(), e) == 0) {
        id = id.substr(0, id.size() - e.size());
        break;
      }
    }
    c.id = id;
    d.cases.push_back(std::move(c));
  }
  return d;
}

Dataset read_dataset(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError("cannot read dataset '" + path.string() + "': no such file or folder");
  const std::string ext = path.extension().string();
  if (ext == ".yaml" || ext == ".yml") return read_case_list(path);
  const fs::path json_file = fs::is_directory(path) ? path / "dataset.json" : path;
  const json j = read_json(json_file);
  // MSD lists its cases under "training"; nnU-Net v2 finds them in imagesTr.
  if (j.contains("training")) return read_msd_dataset(json_file);
  return read_nnunet_dataset(json_file.parent_path());
}

std::vector<std::string> domain_names(const Dataset& dataset) {
  std::vector<std::string> names;
  for (const auto& c : dataset.cases) {
    if (!c.domain.empty() && std::find(names.begin(), names.end(), c.domain) == names.end()) {
      names.push_back(c.domain);
    }
  }
  return names;
}

}  // namespace medseg::pipeline
