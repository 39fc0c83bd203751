#include "models/detail/yaml_json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

namespace medseg::models::yaml_json {
namespace {

using nlohmann::ordered_json;

bool is_scalar(const ordered_json& v) { return !v.is_object() && !v.is_array(); }

// Multi-line strings become literal blocks, which flow collections cannot hold.
bool multi_line(const ordered_json& v) {
  return v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos;
}

// JSON number syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(const std::string& s) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// Words YAML 1.1 readers (PyYAML, older yaml-cpp users) take as booleans:
// quoted so that every reader sees the string.
bool yaml11_word(const std::string& s) {
  std::string lower;
  for (const char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}) {
    if (lower == w) return true;
  }
  return false;
}

// Plain text that YAML 1.1 readers (PyYAML) may turn into numbers, dates or
// sexagesimals ("2024-05-01", "1:30", "+5") is quoted as well.
bool looks_numeric(const std::string& s) {
  return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '+' || s[0] == '-' || s[0] == '.');
}

// yaml-cpp writes literal blocks that do not read back for some strings
// (leading spaces, several trailing newlines), so each candidate is tried.
bool literal_round_trips(const std::string& s) {
  if (s.empty() || s.back() != '\n' || s.find('\r') != std::string::npos) return false;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') return false;
  }
  try {
    YAML::Emitter probe;
    probe << YAML::BeginMap << YAML::Key << "k" << YAML::Value << YAML::BeginMap << YAML::Key << "k"
          << YAML::Value << YAML::Literal << s << YAML::EndMap << YAML::EndMap;
    if (!probe.good()) return false;
    const YAML::Node back = YAML::Load(probe.c_str());
    return back["k"]["k"].IsScalar() && back["k"]["k"].Scalar() == s;
  } catch (const YAML::Exception&) {
    return false;
  }
}

// Whether `s` written as a plain scalar is read back as this string. A
// hex digest such as 7715e61469801545 reads as a number too large for a
// double: not a string either, so it is quoted.
bool plain_reads_as_string(const std::string& s) {
  try {
    return plain_scalar(s).is_string();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void emit_string(YAML::Emitter& out, const std::string& s, EmitStyle style) {
  if (style.plain_style && s.find('\n') != std::string::npos && literal_round_trips(s)) {
    out << YAML::Literal << s;
  } else if (style.plain_style && s.find('\n') == std::string::npos && plain_reads_as_string(s) &&
             !yaml11_word(s) && !looks_numeric(s)) {
    out << s;  // yaml-cpp still quotes what a plain scalar cannot hold
  } else {
    out << YAML::DoubleQuoted << s;
  }
}

void emit_number(YAML::Emitter& out, double d) {
  if (std::isnan(d)) {
    out << ".nan";
  } else if (std::isinf(d)) {
    out << (d > 0 ? ".inf" : "-.inf");
  } else {
    // The shortest text that reads back as the same double; "1e-05" becomes
    // "1.0e-05", which YAML 1.1 readers (PyYAML) also take for a number.
    std::string text = ordered_json(d).dump();
    const size_t e = text.find('e');
    if (e != std::string::npos && text.find('.') == std::string::npos) text.insert(e, ".0");
    out << text;
  }
}

void emit_value(YAML::Emitter& out, const ordered_json& v, EmitStyle style, bool in_sequence) {
  switch (v.type()) {
    case ordered_json::value_t::null:
    case ordered_json::value_t::discarded:
      out << YAML::Null;
      return;
    case ordered_json::value_t::boolean:
      out << v.get<bool>();
      return;
    case ordered_json::value_t::number_integer:
      out << v.get<std::int64_t>();
      return;
    case ordered_json::value_t::number_unsigned:
      out << v.get<std::uint64_t>();
      return;
    case ordered_json::value_t::number_float:
      emit_number(out, v.get<double>());
      return;
    case ordered_json::value_t::string:
      emit_string(out, v.get_ref<const std::string&>(), style);
      return;
    case ordered_json::value_t::binary:
      out << YAML::DoubleQuoted << v.dump();
      return;
    case ordered_json::value_t::array: {
      bool flat = true;
      for (const auto& e : v) flat = flat && is_scalar(e) && !multi_line(e);
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& e : v) emit_value(out, e, style, true);
      out << YAML::EndSeq;
      return;
    }
    case ordered_json::value_t::object: {
      // Small records in a list ({value: 1, name: brain, color: [...]}) on one line.
      bool flat = v.empty();
      if (in_sequence && !flat) {
        flat = true;
        for (const auto& [key, e] : v.items()) {
          flat = flat && (is_scalar(e) || (e.is_array() && std::all_of(e.begin(), e.end(), is_scalar)));
          flat = flat && !multi_line(e);
        }
      }
      if (flat) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [key, e] : v.items()) {
        out << YAML::Key;
        emit_string(out, key, EmitStyle{style.plain_style});
        out << YAML::Value;
        emit_value(out, e, style, false);
      }
      out << YAML::EndMap;
      return;
    }
  }
}

}  // namespace

void emit(YAML::Emitter& out, const ordered_json& value, EmitStyle style) { emit_value(out, value, style, false); }

ordered_json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  for (const char* inf : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}) {
    if (s == inf) return std::numeric_limits<double>::infinity();
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -std::numeric_limits<double>::infinity();
  // nlohmann parses numbers exactly (correctly rounded, locale-independent).
  if (is_json_number(s)) return ordered_json::parse(s);
  return s;
}

namespace {

ordered_json to_json_at(const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags plain scalars "?" and quoted or block scalars "!".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
      try {
        return plain_scalar(node.Scalar());
      } catch (const nlohmann::json::exception&) {
        // Only numbers beyond double's range (1e309) get here.
        throw ValueError{node, path, "number out of range (beyond +-1.8e308)"};
      }
    case YAML::NodeType::Sequence: {
      ordered_json a = ordered_json::array();
      std::size_t i = 0;
      for (const auto& e : node) a.push_back(to_json_at(e, path + "[" + std::to_string(i++) + "]"));
      return a;
    }
    case YAML::NodeType::Map: {
      ordered_json o = ordered_json::object();
      for (const auto& item : node) {
        if (!item.first.IsScalar()) throw ValueError{item.first, path, "mapping keys must be plain text"};
        const std::string& key = item.first.Scalar();
        o[key] = to_json_at(item.second, path.empty() ? key : path + "." + key);
      }
      return o;
    }
  }
  return nullptr;
}

}  // namespace

ordered_json to_json(const YAML::Node& node) { return to_json_at(node, ""); }

}  // namespace medseg::models::yaml_json
