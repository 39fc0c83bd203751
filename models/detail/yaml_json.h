#pragma once
// Internal to models/ (bundle.cpp): JSON values written into YAML documents
// and read back without loss. model.yaml keeps JSON-shaped data (the
// preprocessing plan, the fingerprint) as readable nested YAML, yet the JSON
// read back must equal what was written: same types, numbers bit for bit.
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <string>

namespace medseg::models::yaml_json {

/// Options of emit(): `plain_style` off writes every string double-quoted
/// and on one line (always safe; the fallback when a check fails).
struct EmitStyle {
  bool plain_style = true;
};

/// Writes `value` at the emitter's position. Numbers as their shortest
/// round-trip text (non-finite as .nan/.inf), strings quoted whenever YAML
/// could read them as anything but that string ("1", "true", "~", "yes").
void emit(YAML::Emitter& out, const nlohmann::ordered_json& value, EmitStyle style = {});

/// A YAML value to_json cannot represent: a number beyond double's range
/// (1e309), a key that is not text. `node` is where, `path` its key path
/// below the node given to to_json ("a.b[2]"; empty for that node itself).
struct ValueError {
  YAML::Node node;
  std::string path;
  std::string what;
};

/// The JSON value of a YAML node: quoted scalars are strings; plain scalars
/// are null (~, null, empty), true/false, numbers (JSON number syntax, .inf,
/// .nan) or else strings. Mapping keys are strings. Throws ValueError.
nlohmann::ordered_json to_json(const YAML::Node& node);

/// The value of a plain (unquoted) scalar, as to_json reads it. Throws
/// nlohmann::json::out_of_range for numbers beyond double's range.
nlohmann::ordered_json plain_scalar(const std::string& text);

}  // namespace medseg::models::yaml_json
