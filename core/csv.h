#pragma once
// CSV fields as RFC 4180 writes them: a field holding a comma, a quote or a
// line break is quoted, with its quotes doubled. Every CSV medseg writes
// (summary.csv, evaluation, label tables, GUI statistics) goes through it.
#include <string>
#include <string_view>

namespace medseg::core {

inline std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string quoted = "\"";
  for (const char c : s) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace medseg::core
