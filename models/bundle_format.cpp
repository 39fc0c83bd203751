// model.yaml <-> BundleInfo: the schema (docs/models.md), the checks every
// bundle passes on saving and on loading, and YAML text that reads back as
// exactly what was written.
#include "models/detail/bundle_format.h"

#include <yaml-cpp/yaml.h>

#include <limits>
#include <set>

#include "core/error.h"
#include "core/error_message.h"
#include "core/yaml_fields.h"
#include "models/architecture.h"
#include "models/detail/architecture_json.h"
#include "models/detail/yaml_json.h"

namespace medseg::models::detail {
namespace {

namespace fs = std::filesystem;

using nlohmann::json;
using nlohmann::ordered_json;

bool is_batch_kind(NormKind kind) { return kind == NormKind::kBatch || kind == NormKind::kBatchRenorm; }

ordered_json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return ordered_json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(what + " is not valid JSON (" + e.what() + ")");
  }
}

/// Canonical JSON text (sorted keys, compact) of the YAML subtree `key`.
std::string canonical_json(const core::Fields& f, const std::string& key) {
  try {
    return json::parse(yaml_json::to_json(f.node()[key]).dump()).dump();
  } catch (const yaml_json::ValueError& e) {
    // Named where it is, not by the subtree it is in.
    const std::string path = f.path().empty() ? key : f.path() + "." + key;
    const core::Fields at(e.node, f.file(), path + (e.path.empty() || e.path[0] == '[' ? "" : ".") + e.path, nullptr,
                          core::FieldsError::kModel);
    at.fail("", e.node.IsScalar() ? e.what + ": " + core::quote_short(e.node.Scalar()) : e.what);
  }
}

ParsedInfo parse_info(const std::string& file, const YAML::Node& root) {
  const core::Fields top(root, file, "", nullptr, core::FieldsError::kModel);
  if (!root.IsMap()) top.fail("", "not a mapping of keys (is this a medseg model.yaml?)");
  ParsedInfo parsed;
  BundleInfo& info = parsed.info;
  // The version first: a newer file may differ in anything else.
  top.require({"format_version"});
  const std::int64_t version = top.get_int("format_version", 0, 1, std::numeric_limits<int>::max());
  if (version > kBundleFormatVersion) {
    throw ModelError(file + ": format version " + std::to_string(version) + " is newer than this medseg supports (" +
                     std::to_string(kBundleFormatVersion) + "); update medseg");
  }
  info.format_version = static_cast<int>(version);
  top.require({"name", "version", "architecture", "channel_names", "labels", "domains", "patch_size", "preprocessing",
               "provenance", "weights"});
  info.name = top.get_string("name", "");
  info.version = top.get_string("version", "");
  const core::Fields architecture = top.section("architecture");
  UNet3dOptions o(1, 1);
  read_architecture(architecture, ArchitectureKeys::kComplete, o);
  info.architecture = o;
  info.channel_names = top.get_strings("channel_names");

  const YAML::Node labels = root["labels"];
  if (!labels.IsSequence()) top.fail("labels", "expected a list");
  for (size_t i = 0; i < labels.size(); ++i) {
    const core::Fields label(labels[i], file, "labels[" + std::to_string(i) + "]", nullptr,
                             core::FieldsError::kModel);
    if (!labels[i].IsMap()) label.fail("", "expected a mapping {value, name, color}");
    label.require({"value", "name", "color"});
    LabelInfo l;
    l.value = static_cast<int>(label.get_int("value", 0, 0, std::numeric_limits<int>::max()));
    l.name = label.get_string("name", "");
    const Int3 color = label.get_int_triple("color", 0, 255);
    for (size_t c = 0; c < 3; ++c) l.color[c] = static_cast<std::uint8_t>(color[c]);
    info.labels.push_back(l);
  }

  info.domains = top.get_strings("domains");
  const Int3 p = top.get_int_triple("patch_size", 1, 1 << 20);
  info.patch_size = {p[0], p[1], p[2]};
  if (!root["preprocessing"].IsMap()) top.fail("preprocessing", "expected a mapping");
  info.preprocessing_json = canonical_json(top, "preprocessing");
  // Optional since it was added (format version 1 readers before it ignore it).
  if (top.has("adaptation")) {
    const core::Fields adaptation = top.section("adaptation");
    adaptation.allow_only({"min_change", "methods", "check", "prior_windows", "prior_strength"});
    if (adaptation.has("min_change")) info.adapt_min_change = adaptation.get_double("min_change", 0.0, 0.0, 1.0);
    if (adaptation.has("methods")) {
      info.adapt_methods = adaptation.get_strings("methods");
      if (info.adapt_methods.empty()) adaptation.fail("methods", "expected at least one adaptation method");
    }
    if (adaptation.has("check")) info.adapt_check = adaptation.get_bool("check", true);
    if (adaptation.has("prior_windows")) {
      info.adapt_prior_windows = adaptation.get_int("prior_windows", 16, kMinPriorWindows, kMaxPriorWindows);
    }
    if (adaptation.has("prior_strength")) {
      info.adapt_prior_strength = adaptation.get_double("prior_strength", 16.0, 0.0, kMaxPriorStrength);
    }
  }

  const core::Fields provenance = top.section("provenance");
  provenance.require({"created", "medseg_version", "config_yaml", "metrics"});
  info.provenance.created = provenance.get_string("created", "");
  info.provenance.medseg_version = provenance.get_string("medseg_version", "");
  info.provenance.config_yaml = provenance.get_string("config_yaml", "");
  if (provenance.has("fingerprint")) info.provenance.fingerprint_json = canonical_json(provenance, "fingerprint");
  if (provenance.has("notes")) info.provenance.notes = provenance.get_strings("notes");
  const core::Fields metrics = provenance.section("metrics");
  for (const auto& item : metrics.node()) {
    info.provenance.metrics[item.first.Scalar()] = metrics.get_real(item.first.Scalar());
  }

  const core::Fields weights = top.section("weights");
  weights.require({"file", "fnv1a64"});
  parsed.weights.file = weights.get_string("file", "");
  if (parsed.weights.file.empty() || parsed.weights.file.find('/') != std::string::npos ||
      parsed.weights.file == "." || parsed.weights.file == "..") {
    weights.fail("file", "expected a file name inside the bundle, got '" + parsed.weights.file + "'");
  }
  parsed.weights.checksum = weights.get_string("fnv1a64", "");
  if (parsed.weights.checksum.size() != 16 ||
      parsed.weights.checksum.find_first_not_of("0123456789abcdef") != std::string::npos) {
    weights.fail("fnv1a64", "expected 16 lower-case hex digits");
  }

  const auto [key, what] = find_problem(info);
  if (!key.empty()) top.fail(key, what);
  return parsed;
}

}  // namespace

ordered_json info_json(const BundleInfo& info) {
  ordered_json labels = ordered_json::array();
  for (const auto& l : info.labels) {
    labels.push_back({{"value", l.value}, {"name", l.name}, {"color", {l.color[0], l.color[1], l.color[2]}}});
  }
  ordered_json metrics = ordered_json::object();
  for (const auto& [key, value] : info.provenance.metrics) metrics[key] = value;
  ordered_json provenance = {{"created", info.provenance.created},
                             {"medseg_version", info.provenance.medseg_version},
                             {"metrics", metrics}};
  if (!info.provenance.fingerprint_json.empty()) {
    provenance["fingerprint"] = parse_json_text(info.provenance.fingerprint_json, "provenance.fingerprint_json");
  }
  provenance["config_yaml"] = info.provenance.config_yaml;
  if (!info.provenance.notes.empty()) provenance["notes"] = info.provenance.notes;
  const ordered_json preprocessing = parse_json_text(info.preprocessing_json, "preprocessing_json");
  if (!preprocessing.is_object()) throw ModelError("preprocessing_json must be a JSON object");
  ordered_json tree = {{"format_version", info.format_version},
                       {"name", info.name},
                       {"version", info.version},
                       {"architecture", detail::architecture_json(info.architecture, ArchitectureKeys::kComplete)},
                       {"channel_names", info.channel_names},
                       {"labels", labels},
                       {"domains", info.domains},
                       {"patch_size", info.patch_size},
                       {"preprocessing", preprocessing}};
  ordered_json adaptation = ordered_json::object();
  if (info.adapt_min_change) adaptation["min_change"] = *info.adapt_min_change;
  if (!info.adapt_methods.empty()) adaptation["methods"] = info.adapt_methods;
  if (info.adapt_check) adaptation["check"] = *info.adapt_check;
  if (info.adapt_prior_windows) adaptation["prior_windows"] = *info.adapt_prior_windows;
  if (info.adapt_prior_strength) adaptation["prior_strength"] = *info.adapt_prior_strength;
  if (!adaptation.empty()) tree["adaptation"] = adaptation;
  tree["provenance"] = provenance;
  return tree;
}

// If the readable style does not read back, everything is written
// double-quoted.
std::string to_yaml_text(const ordered_json& tree) {
  for (const bool plain : {true, false}) {
    YAML::Emitter out;
    yaml_json::emit(out, tree, yaml_json::EmitStyle{plain});
    if (!out.good()) continue;
    const std::string text = std::string("# medseg model bundle; the format is described in docs/models.md\n") +
                             out.c_str() + "\n";
    try {
      if (yaml_json::to_json(YAML::Load(text)).dump() == tree.dump()) return text;
    } catch (const YAML::Exception&) {
    } catch (const yaml_json::ValueError&) {
    }
  }
  throw ModelError("model.yaml: internal error: the text written does not read back as the same values");
}

std::pair<std::string, std::string> find_problem(const BundleInfo& info) {
  const UNet3dOptions& a = info.architecture;
  const auto n = [](auto v) { return std::to_string(v); };
  if (info.name.empty()) return {"name", "empty; give the model a name"};
  if (a.depth() < 1) return {"architecture.depth", n(a.depth()) + " is less than 1"};
  for (const auto& [key, list] : {std::pair{"architecture.kernel_sizes", &a.kernel_sizes()},
                                  std::pair{"architecture.strides", &a.strides()}}) {
    if (!list->empty() && static_cast<std::int64_t>(list->size()) != a.depth()) {
      return {key, n(list->size()) + " entries for depth " + n(a.depth()) + " (or none for the default)"};
    }
  }
  if (static_cast<std::int64_t>(info.labels.size()) != a.num_classes()) {
    return {"labels", n(info.labels.size()) + " labels for architecture.num_classes " + n(a.num_classes()) +
                          " (background included)"};
  }
  for (size_t i = 0; i < info.labels.size(); ++i) {
    const int value = info.labels[i].value;
    if (i == 0 && value != 0) return {"labels", "the first label must be the background, value 0, not " + n(value)};
    if (i > 0 && value <= info.labels[i - 1].value) {
      return {"labels", "values must ascend; " + n(value) + " follows " + n(info.labels[i - 1].value)};
    }
  }
  if (!info.channel_names.empty() && static_cast<std::int64_t>(info.channel_names.size()) != a.in_channels()) {
    return {"channel_names",
            n(info.channel_names.size()) + " names for architecture.in_channels " + n(a.in_channels())};
  }
  if (is_batch_kind(a.norm().kind()) && static_cast<std::int64_t>(info.domains.size()) > a.norm().num_domains()) {
    return {"domains", n(info.domains.size()) + " domains for architecture.norm.num_domains " +
                           n(a.norm().num_domains()) + " (one set of statistics each)"};
  }
  std::set<std::string> seen;
  for (const auto& d : info.domains) {
    if (d.empty()) return {"domains", "empty domain name"};
    if (!seen.insert(d).second) return {"domains", "'" + d + "' appears twice"};
  }
  const Int3 stride = total_stride(a);
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t p = info.patch_size[static_cast<size_t>(axis)];
    const std::int64_t s = stride[static_cast<size_t>(axis)];
    if (p < 1 || p % s != 0) {
      return {"patch_size", n(p) + " voxels along " + "ijk"[axis] + " is not a positive multiple of the total stride " +
                                n(s) + " of the architecture"};
    }
  }
  if (info.adapt_min_change && !(*info.adapt_min_change >= 0.0 && *info.adapt_min_change <= 1.0)) {
    return {"adaptation.min_change", "expected a share of voxels in [0, 1], got " + std::to_string(*info.adapt_min_change)};
  }
  if (info.adapt_prior_windows &&
      (*info.adapt_prior_windows < kMinPriorWindows || *info.adapt_prior_windows > kMaxPriorWindows)) {
    return {"adaptation.prior_windows", "expected " + n(kMinPriorWindows) + " to " + n(kMaxPriorWindows) +
                                            " windows, got " + n(*info.adapt_prior_windows)};
  }
  if (info.adapt_prior_strength &&
      !(*info.adapt_prior_strength >= 0.0 && *info.adapt_prior_strength <= kMaxPriorStrength)) {
    return {"adaptation.prior_strength",
            "expected a strength in [0, 1e6] windows, got " + std::to_string(*info.adapt_prior_strength)};
  }
  return {};
}

ParsedInfo read_info(const fs::path& directory) {
  std::error_code ec;
  if (!fs::exists(directory, ec)) throw ModelError("model bundle '" + directory.string() + "': no such directory");
  if (!fs::is_directory(directory, ec)) {
    throw ModelError("model bundle '" + directory.string() +
                     "': not a directory (a bundle is a folder with model.yaml and weights.pt)");
  }
  const fs::path file = directory / kInfoFile;
  if (!fs::exists(file, ec)) {
    throw ModelError(file.string() + ": not found (a bundle is a folder with model.yaml and weights.pt)");
  }
  return parse_info(file.string(), core::load_yaml_file(file, core::FieldsError::kModel));
}

}  // namespace medseg::models::detail
