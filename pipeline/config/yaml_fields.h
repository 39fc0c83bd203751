#pragma once
// Internal to pipeline/config: reading typed, range-checked values out of a
// YAML tree with errors that name the file, the key path and the line.
#include <yaml-cpp/yaml.h>

#include <array>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace medseg::pipeline::config {

/// A mapping node plus where it is: file and dotted key path.
class Fields {
 public:
  /// `overridden` lists key paths set with --set (they have no line).
  Fields(YAML::Node node, std::string file, std::string path,
         std::shared_ptr<const std::set<std::string>> overridden = nullptr);

  /// Throws ConfigError for any key not in `allowed` (typos are errors).
  void allow_only(std::initializer_list<const char*> allowed) const;

  bool has(const std::string& key) const;
  /// Sub-mapping (empty mapping when absent). Throws if present but not a mapping.
  Fields section(const std::string& key) const;

  bool get_bool(const std::string& key, bool fallback) const;
  std::int64_t get_int(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
  double get_double(const std::string& key, double fallback, double min, double max) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  /// One of `choices`.
  std::string get_choice(const std::string& key, const std::string& fallback,
                         std::initializer_list<const char*> choices) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  /// A list of exactly 3 numbers, or one number meaning all three.
  std::array<double, 3> get_triple(const std::string& key, std::array<double, 3> fallback, double min,
                                   double max) const;
  /// [low, high] with min <= low <= high <= max.
  std::array<double, 2> get_range(const std::string& key, std::array<double, 2> fallback, double min,
                                  double max) const;
  /// A list of lists of 3 integers (per-level kernel sizes or strides).
  std::vector<std::array<std::int64_t, 3>> get_int_triples(const std::string& key, std::int64_t min,
                                                           std::int64_t max) const;

  /// Throws ConfigError "FILE, key PATH.key, line N: what".
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  /// "'FILE', key 'PATH.key', line N": for errors found after parsing.
  std::string where(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }

 private:
  std::string key_path(const std::string& key) const;
  YAML::Node child(const std::string& key) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::shared_ptr<const std::set<std::string>> overridden_;
};

}  // namespace medseg::pipeline::config
