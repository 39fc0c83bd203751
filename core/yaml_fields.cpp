#include "core/yaml_fields.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/error_message.h"

namespace medseg::core {

Fields::Fields(YAML::Node node, std::string file, std::string path,
               std::shared_ptr<const std::set<std::string>> overridden, FieldsError error)
    : node_(std::move(node)),
      file_(std::move(file)),
      path_(std::move(path)),
      overridden_(std::move(overridden)),
      error_(error) {}

namespace {

// The first byte of `text` that a YAML file cannot hold, or npos: text that
// is not UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), and control characters other than tab and line breaks, which
// YAML does not allow. yaml-cpp passes such bytes on or mangles them (a NUL
// inside a key came out as bytes that are not UTF-8), and nlohmann::json,
// which model.yaml's JSON-shaped parts and `--json` output go through,
// throws on what is not UTF-8 (found by fuzz/targets/fuzz_model_yaml.cpp).
std::size_t first_non_yaml_byte(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned min = 0, max = 0xbf;  // allowed range of the second byte
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return i;
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3, min = c == 0xe0 ? 0xa0 : 0x80, max = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4, min = c == 0xf0 ? 0x90 : 0x80, max = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < min || b > max) : (b < 0x80 || b > 0xbf)) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace

YAML::Node load_yaml_file(const std::filesystem::path& file, FieldsError error) {
  const auto raise = [error](const std::string& message) {
    if (error == FieldsError::kModel) throw ModelError(message);
    throw ConfigError(message);
  };
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) raise("cannot read '" + file.string() + "': no such file");
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) raise("cannot read '" + file.string() + "': no such file");
  const std::string text = content.str();
  if (const std::size_t at = first_non_yaml_byte(text); at != std::string_view::npos) {
    const std::size_t line_start = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
    const std::size_t column = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    char byte[8];
    std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[at])));
    const bool control = static_cast<unsigned char>(text[at]) < 0x80;
    raise("'" + file.string() + "', line " + std::to_string(line) + ", column " + std::to_string(column) +
          (control ? ": a control character (byte " + std::string(byte) + "), which YAML does not allow"
                   : ": not UTF-8 text (byte " + std::string(byte) + "); medseg reads YAML files as UTF-8"));
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // single_line: yaml-cpp quotes the offending character, a line break too
    raise("'" + file.string() + "', line " + std::to_string(e.mark.line + 1) + ": invalid YAML (" +
          single_line(e.msg) + ")");
  }
  return {};
}

std::string Fields::key_path(const std::string& key) const {
  if (key.empty()) return path_;
  return path_.empty() ? key : path_ + "." + key;
}

YAML::Node Fields::child(const std::string& key) const {
  if (!node_.IsDefined() || node_.IsNull() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return node_[key];
}

std::string Fields::where(const std::string& key) const {
  std::string text = "'" + file_ + "'";
  const std::string kp = key_path(key);
  if (!kp.empty()) text += ", key '" + kp + "'";
  if (overridden_ != nullptr && overridden_->count(kp) != 0) return text + " (set on the command line)";
  // A missing key points at its mapping's line. (Not `n = node_`: assigning
  // to a yaml-cpp node writes into the node it refers to.)
  const YAML::Node found = key.empty() ? node_ : child(key);
  const YAML::Node& n = found.IsDefined() ? found : node_;
  if (n.IsDefined() && n.Mark().line >= 0) text += ", line " + std::to_string(n.Mark().line + 1);
  return text;
}

void Fields::fail(const std::string& key, const std::string& what) const {
  // `what` may quote file content (a parser's message, a block scalar).
  const std::string message = where(key) + ": " + single_line(what);
  if (error_ == FieldsError::kModel) throw ModelError(message);
  throw ConfigError(message);
}

void Fields::require(std::initializer_list<const char*> keys) const {
  for (const char* key : keys) {
    if (!has(key)) fail(key, "missing");
  }
}

void Fields::allow_only(std::initializer_list<const char*> allowed) const {
  if (!node_.IsDefined() || node_.IsNull()) return;
  const std::set<std::string> keys(allowed.begin(), allowed.end());
  for (const auto& item : node_) {
    if (!item.first.IsScalar()) {
      fail("", "line " + std::to_string(item.first.Mark().line + 1) + ": a key must be plain text, not a list or mapping");
    }
    const std::string key = item.first.Scalar();
    if (keys.count(key) == 0) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
      const bool from_set = overridden_ != nullptr && overridden_->count(key_path(key)) != 0;
      // The key is the file's text: quoted on one line (a YAML key can hold line breaks).
      const std::string message = "'" + file_ + "', key " + quote_short(key_path(key), 80) +
                                  (from_set ? std::string(" (set on the command line)")
                                            : ", line " + std::to_string(item.first.Mark().line + 1)) +
                                  ": unknown key (expected one of: " + list + ")";
      if (error_ == FieldsError::kModel) throw ModelError(message);
      throw ConfigError(message);
    }
  }
}

bool Fields::has(const std::string& key) const {
  const YAML::Node n = child(key);
  return n.IsDefined() && !n.IsNull();
}

Fields Fields::section(const std::string& key) const {
  const YAML::Node n = child(key);
  if (n.IsDefined() && !n.IsNull() && !n.IsMap()) fail(key, "expected a mapping of keys");
  return Fields(n.IsDefined() ? n : YAML::Node(YAML::NodeType::Null), file_, key_path(key), overridden_, error_);
}

namespace {

// Numbers and booleans are plain scalars: a quoted "3" is text, as YAML
// and JSON have it (yaml-cpp tags quoted scalars "!").
template <typename T>
bool convert(const YAML::Node& n, T& out) {
  if (!n.IsScalar() || n.Tag() == "!") return false;
  return YAML::convert<T>::decode(n, out);
}

// The offending value as quoted in a message: short, on one line.
std::string shown(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return quote_short(n.Scalar());
}

// Why a scalar is not the number asked for: yaml-cpp's conversion fails
// alike for "abc" and for "1e309" (overflows a double) or 2^63 (a long long).
std::string not_a(const char* kind, const YAML::Node& n) {
  if (n.IsScalar() && n.Tag() != "!") {
    errno = 0;
    char* end = nullptr;
    const std::string& text = n.Scalar();
    const double v = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size() && (errno == ERANGE || !std::isfinite(v)) &&
        std::abs(v) > 1.0) {
      return shown(n) + " is out of the range of numbers medseg reads";
    }
    if (std::string(kind) == "an integer" && !text.empty() && end == text.c_str() + text.size() && std::isfinite(v) &&
        v == std::floor(v) && std::abs(v) >= 9.2e18) {
      return shown(n) + " is out of the range of integers medseg reads";
    }
  }
  return std::string("expected ") + kind + ", got " + shown(n);
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

bool Fields::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  bool v = false;
  if (!convert(child(key), v)) fail(key, "expected true or false, got " + shown(child(key)));
  return v;
}

std::int64_t Fields::get_int(const std::string& key, std::int64_t fallback, std::int64_t min,
                             std::int64_t max) const {
  if (!has(key)) return fallback;
  long long v = 0;
  if (!convert(child(key), v)) fail(key, not_a("an integer", child(key)));
  if (v < min || v > max) {
    fail(key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

double Fields::get_double(const std::string& key, double fallback, double min, double max) const {
  if (!has(key)) return fallback;
  double v = 0;
  if (!convert(child(key), v) || !std::isfinite(v)) {
    fail(key, not_a("a number", child(key)));
  }
  if (v < min || v > max) fail(key, number(v) + " is out of range [" + number(min) + ", " + number(max) + "]");
  return v;
}

double Fields::get_real(const std::string& key) const {
  if (!has(key)) fail(key, "missing");
  double v = 0;
  if (!convert(child(key), v)) fail(key, not_a("a number", child(key)));
  return v;
}

std::string Fields::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  if (!child(key).IsScalar()) fail(key, "expected a single value");
  return child(key).as<std::string>();
}

std::vector<std::string> Fields::get_strings(const std::string& key) const {
  std::vector<std::string> out;
  if (!has(key)) return out;
  const YAML::Node n = child(key);
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) fail(key, "expected a list");
  for (const auto& item : n) {
    if (!item.IsScalar()) fail(key, "expected a list of single values");
    out.push_back(item.as<std::string>());
  }
  return out;
}

std::array<double, 3> Fields::get_triple(const std::string& key, std::array<double, 3> fallback, double min,
                                         double max) const {
  if (!has(key)) return fallback;
  const YAML::Node n = child(key);
  std::array<double, 3> out{};
  if (n.IsScalar()) {
    const double v = get_double(key, 0, min, max);
    return {v, v, v};
  }
  if (!n.IsSequence() || n.size() != 3) fail(key, "expected 3 numbers [i, j, k] or one number");
  for (std::size_t i = 0; i < 3; ++i) {
    double v = 0;
    if (!convert(n[i], v) || !std::isfinite(v)) fail(key, not_a("a number", n[i]));
    if (v < min || v > max) fail(key, number(v) + " is out of range [" + number(min) + ", " + number(max) + "]");
    out[i] = v;
  }
  return out;
}

std::array<double, 2> Fields::get_range(const std::string& key, std::array<double, 2> fallback, double min,
                                        double max) const {
  if (!has(key)) return fallback;
  const YAML::Node n = child(key);
  double lo = 0, hi = 0;
  if (!n.IsSequence() || n.size() != 2 || !convert(n[0], lo) || !convert(n[1], hi) || !std::isfinite(lo) ||
      !std::isfinite(hi)) {
    fail(key, "expected [low, high] (two finite numbers)");
  }
  if (lo < min || hi > max || lo > hi) {
    fail(key, "[" + number(lo) + ", " + number(hi) + "] must satisfy " + number(min) + " <= low <= high <= " +
                  number(max));
  }
  return {lo, hi};
}

std::array<std::int64_t, 3> Fields::get_int_triple(const std::string& key, std::int64_t min,
                                                   std::int64_t max) const {
  if (!has(key)) fail(key, "missing");
  const YAML::Node n = child(key);
  if (!n.IsSequence() || n.size() != 3) fail(key, "expected a list of 3 integers");
  std::array<std::int64_t, 3> t{};
  for (std::size_t i = 0; i < 3; ++i) {
    long long v = 0;
    if (!convert(n[i], v)) fail(key, not_a("an integer", n[i]));
    if (v < min || v > max) {
      fail(key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    t[i] = v;
  }
  return t;
}

std::vector<std::array<std::int64_t, 3>> Fields::get_int_triples(const std::string& key, std::int64_t min,
                                                                 std::int64_t max) const {
  std::vector<std::array<std::int64_t, 3>> out;
  if (!has(key)) return out;
  const YAML::Node n = child(key);
  if (!n.IsSequence()) fail(key, "expected a list of [i, j, k] per level");
  for (const auto& level : n) {
    std::array<std::int64_t, 3> t{};
    if (level.IsScalar()) {
      long long v = 0;
      if (!convert(level, v)) fail(key, "expected integers");
      t = {v, v, v};
    } else if (level.IsSequence() && level.size() == 3) {
      for (std::size_t i = 0; i < 3; ++i) {
        long long v = 0;
        if (!convert(level[i], v)) fail(key, "expected integers");
        t[i] = v;
      }
    } else {
      fail(key, "each level needs [i, j, k] or one integer");
    }
    for (auto v : t) {
      if (v < min || v > max) fail(key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    out.push_back(t);
  }
  return out;
}

}  // namespace medseg::core
