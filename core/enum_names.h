#pragma once
// Closed sets of names read from configs, bundles and the command line
// (precision, normalization, optimizer, ...). One table per enum serves both
// directions, and the parse error lists the accepted names, so each list of
// names is written exactly once.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "core/error_message.h"

namespace medseg::core {

template <typename Enum, std::size_t N>
class EnumNames {
 public:
  /// `what` names the setting in errors ("precision", "optimizer", ...).
  constexpr EnumNames(const char* what, std::array<std::pair<Enum, const char*>, N> entries)
      : what_(what), entries_(entries) {}

  /// Throws ConfigError "unknown WHAT 'NAME' (expected one of A, B, C)",
  /// NAME cut by quote_short.
  Enum parse(std::string_view name) const {
    for (const auto& [value, text] : entries_) {
      if (name == text) return value;
    }
    // The name may be anything a file held: quoted short, on one line.
    throw ConfigError("unknown " + std::string(what_) + " " + quote_short(name) + " (expected one of " + list() + ")");
  }

  /// The name of `value` ("?" for a value outside the table).
  std::string name(Enum value) const {
    for (const auto& [v, text] : entries_) {
      if (v == value) return text;
    }
    return "?";
  }

  /// "A, B, C" in table order.
  std::string list() const {
    std::string s;
    for (const auto& entry : entries_) s += (s.empty() ? "" : ", ") + std::string(entry.second);
    return s;
  }

 private:
  const char* what_;
  std::array<std::pair<Enum, const char*>, N> entries_;
};

}  // namespace medseg::core
