#pragma once
// A minimal reader for Apple XML property lists, enough for InVesalius
// project files (dict, array, string, integer, real, true/false).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace medseg::pipeline {

struct PlistValue {
  enum class Kind { kString, kInteger, kReal, kBool, kArray, kDict };
  Kind kind = Kind::kString;
  std::string text;  // string value, or the literal of a number/bool
  std::vector<PlistValue> items;               // kArray
  std::map<std::string, PlistValue> entries;   // kDict

  /// Entry `key` of a dict; throws IoError naming the key when absent.
  const PlistValue& at(const std::string& key) const;
  double as_number() const;
  const std::string& as_string() const;
};

/// Parses the plist file at `path`; throws IoError naming the file.
PlistValue read_plist(const std::filesystem::path& path);

}  // namespace medseg::pipeline
