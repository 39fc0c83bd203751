#pragma once
// Reading typed, range-checked values out of a YAML tree with errors that
// name the file, the key path and the line. The one YAML reader of medseg:
// training configs, case lists and model.yaml's architecture go through it.
#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace medseg::core {

/// Which medseg::Error a reader throws: a bad training config or case list
/// is a ConfigError, a bad model.yaml a ModelError.
enum class FieldsError { kConfig, kModel };

/// Parses `file`; a missing file or a YAML syntax error is an error naming
/// the file (and line).
YAML::Node load_yaml_file(const std::filesystem::path& file, FieldsError error = FieldsError::kConfig);

/// A mapping node plus where it is: file and dotted key path.
class Fields {
 public:
  /// `overridden` lists key paths set with --set (they have no line).
  Fields(YAML::Node node, std::string file, std::string path,
         std::shared_ptr<const std::set<std::string>> overridden = nullptr, FieldsError error = FieldsError::kConfig);

  /// Throws ConfigError for any key not in `allowed` (typos are errors).
  void allow_only(std::initializer_list<const char*> allowed) const;

  bool has(const std::string& key) const;
  /// Throws "missing" for the first of `keys` that is absent.
  void require(std::initializer_list<const char*> keys) const;
  /// Sub-mapping (empty mapping when absent). Throws if present but not a mapping.
  Fields section(const std::string& key) const;

  bool get_bool(const std::string& key, bool fallback) const;
  std::int64_t get_int(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
  double get_double(const std::string& key, double fallback, double min, double max) const;
  /// Any number, .nan and .inf included (recorded metrics); required.
  double get_real(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  /// A name turned into a value by `parse` (e.g. models::parse_precision),
  /// whose error message (it lists the accepted names) gains file, key and line.
  template <typename T, typename Parse>
  T get_parsed(const std::string& key, T fallback, Parse parse) const {
    if (!has(key)) return fallback;
    const std::string name = get_string(key, "");
    try {
      return parse(name);
    } catch (const Error& e) {
      fail(key, e.what());
    }
  }
  std::vector<std::string> get_strings(const std::string& key) const;
  /// A list of exactly 3 numbers, or one number meaning all three.
  std::array<double, 3> get_triple(const std::string& key, std::array<double, 3> fallback, double min,
                                   double max) const;
  /// [low, high] with min <= low <= high <= max.
  std::array<double, 2> get_range(const std::string& key, std::array<double, 2> fallback, double min,
                                  double max) const;
  /// A list of exactly 3 integers in [min, max]; required.
  std::array<std::int64_t, 3> get_int_triple(const std::string& key, std::int64_t min, std::int64_t max) const;
  /// A list of lists of 3 integers (per-level kernel sizes or strides).
  std::vector<std::array<std::int64_t, 3>> get_int_triples(const std::string& key, std::int64_t min,
                                                           std::int64_t max) const;

  /// Throws "'FILE', key 'PATH.key', line N: what" (ConfigError or
  /// ModelError, as constructed).
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  /// "'FILE', key 'PATH.key', line N": for errors found after parsing.
  std::string where(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }

 private:
  std::string key_path(const std::string& key) const;
  YAML::Node child(const std::string& key) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::shared_ptr<const std::set<std::string>> overridden_;
  FieldsError error_;
};

}  // namespace medseg::core
