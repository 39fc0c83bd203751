// YAML case lists: the simplest way to hand medseg a dataset with domains.
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/yaml_fields.h"
#include "pipeline/data/dataset.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

Dataset read_case_list(const fs::path& yaml_file) {
  const YAML::Node root = core::load_yaml_file(yaml_file);
  const core::Fields top(root, yaml_file.string(), "");
  if (!root.IsMap()) top.fail("", "expected a mapping with 'labels' and 'cases'");
  top.allow_only({"name", "channels", "labels", "cases"});
  top.require({"labels", "cases"});
  const fs::path base = yaml_file.parent_path();
  Dataset d;
  d.source = yaml_file;
  d.name = top.get_string("name", yaml_file.stem().string());
  d.channel_names = top.has("channels") ? top.get_strings("channels") : std::vector<std::string>{"image"};

  const YAML::Node labels = root["labels"];
  if (!labels.IsMap()) top.fail("labels", "expected a mapping value: name");
  for (const auto& item : labels) {
    int value = 0;
    try {
      value = item.first.as<int>();
    } catch (const YAML::Exception&) {
      top.fail("labels", "label values must be integers");
    }
    const core::Fields label(labels, yaml_file.string(), "labels");
    d.labels[value] = label.get_string(item.first.Scalar(), "");
  }

  const YAML::Node cases = root["cases"];
  if (!cases.IsSequence()) top.fail("cases", "expected a list");
  const auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : base / p; };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const core::Fields item(cases[i], yaml_file.string(), "cases[" + std::to_string(i) + "]");
    if (!cases[i].IsMap()) item.fail("", "expected a mapping");
    item.allow_only({"id", "image", "images", "label", "domain"});
    item.require({"id"});
    CaseEntry c;
    c.id = item.get_string("id", "");
    if (item.has("image") && item.has("images")) item.fail("", "give 'image' or 'images', not both");
    if (item.has("image")) {
      c.images = {resolve(item.get_string("image", ""))};
    } else if (item.has("images") && cases[i]["images"].IsSequence()) {
      for (const auto& p : item.get_strings("images")) c.images.push_back(resolve(p));
    } else {
      item.fail("images", "missing (a list of channel files, or 'image')");
    }
    if (c.images.size() != d.channel_names.size()) {
      item.fail(item.has("images") ? "images" : "image",
                std::to_string(c.images.size()) + " image(s) given, the dataset has " +
                    std::to_string(d.channel_names.size()) + " channel(s)");
    }
    if (item.has("label")) c.label = resolve(item.get_string("label", ""));
    if (item.has("domain")) c.domain = item.get_string("domain", "");
    d.cases.push_back(std::move(c));
  }
  return d;
}

}  // namespace medseg::pipeline
