// YAML case lists: the simplest way to hand medseg a dataset with domains.
#include <yaml-cpp/yaml.h>

#include <set>

#include "models/error.h"
#include "pipeline/data/dataset.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& key, const YAML::Node& node,
                       const std::string& what) {
  std::string where = "'" + file.string() + "'";
  if (!key.empty()) where += ", key '" + key + "'";
  if (node.IsDefined() && node.Mark().line >= 0) where += ", line " + std::to_string(node.Mark().line + 1);
  throw ConfigError(where + ": " + what);
}

std::string scalar(const fs::path& file, const std::string& key, const YAML::Node& node) {
  if (!node.IsScalar()) fail(file, key, node, "expected a single value");
  return node.as<std::string>();
}

}  // namespace

Dataset read_case_list(const fs::path& yaml_file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(yaml_file.string());
  } catch (const YAML::BadFile&) {
    throw ConfigError("cannot read '" + yaml_file.string() + "': no such file");
  } catch (const YAML::Exception& e) {
    throw ConfigError("'" + yaml_file.string() + "', line " + std::to_string(e.mark.line + 1) +
                      ": invalid YAML (" + e.msg + ")");
  }
  if (!root.IsMap()) fail(yaml_file, "", root, "expected a mapping with 'labels' and 'cases'");
  static const std::set<std::string> kTopKeys{"name", "channels", "labels", "cases"};
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (kTopKeys.count(key) == 0) fail(yaml_file, key, item.first, "unknown key");
  }
  const fs::path base = yaml_file.parent_path();
  Dataset d;
  d.source = yaml_file;
  d.name = root["name"] ? scalar(yaml_file, "name", root["name"]) : yaml_file.stem().string();
  if (root["channels"]) {
    if (!root["channels"].IsSequence()) fail(yaml_file, "channels", root["channels"], "expected a list");
    for (const auto& c : root["channels"]) d.channel_names.push_back(scalar(yaml_file, "channels", c));
  } else {
    d.channel_names = {"image"};
  }
  const YAML::Node labels = root["labels"];
  if (!labels) fail(yaml_file, "labels", labels, "missing");
  if (!labels.IsMap()) fail(yaml_file, "labels", labels, "expected a mapping value: name");
  for (const auto& item : labels) {
    int value = 0;
    try {
      value = item.first.as<int>();
    } catch (const YAML::Exception&) {
      fail(yaml_file, "labels", item.first, "label values must be integers");
    }
    d.labels[value] = scalar(yaml_file, "labels." + std::to_string(value), item.second);
  }
  const YAML::Node cases = root["cases"];
  if (!cases) fail(yaml_file, "cases", cases, "missing");
  if (!cases.IsSequence()) fail(yaml_file, "cases", cases, "expected a list");
  static const std::set<std::string> kCaseKeys{"id", "image", "images", "label", "domain"};
  const auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : base / p; };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const YAML::Node item = cases[i];
    const std::string key = "cases[" + std::to_string(i) + "]";
    if (!item.IsMap()) fail(yaml_file, key, item, "expected a mapping");
    for (const auto& field : item) {
      const std::string name = field.first.as<std::string>();
      if (kCaseKeys.count(name) == 0) fail(yaml_file, key + "." + name, field.first, "unknown key");
    }
    CaseEntry c;
    if (!item["id"]) fail(yaml_file, key + ".id", item, "missing");
    c.id = scalar(yaml_file, key + ".id", item["id"]);
    if (item["image"] && item["images"]) fail(yaml_file, key, item, "give 'image' or 'images', not both");
    if (item["image"]) {
      c.images = {resolve(scalar(yaml_file, key + ".image", item["image"]))};
    } else if (item["images"] && item["images"].IsSequence()) {
      for (const auto& p : item["images"]) c.images.push_back(resolve(scalar(yaml_file, key + ".images", p)));
    } else {
      fail(yaml_file, key + ".images", item, "missing (a list of channel files, or 'image')");
    }
    if (c.images.size() != d.channel_names.size()) {
      fail(yaml_file, key + ".images", item["images"] ? item["images"] : item["image"],
           std::to_string(c.images.size()) + " image(s) given, the dataset has " +
               std::to_string(d.channel_names.size()) + " channel(s)");
    }
    if (item["label"]) c.label = resolve(scalar(yaml_file, key + ".label", item["label"]));
    if (item["domain"]) c.domain = scalar(yaml_file, key + ".domain", item["domain"]);
    d.cases.push_back(std::move(c));
  }
  return d;
}

}  // namespace medseg::pipeline
