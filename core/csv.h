#pragma once
// CSV fields as RFC 4180 writes them: a field holding a comma, a quote or a
// line break is quoted, with its quotes doubled. Every CSV medseg writes
// (summary.csv, evaluation, label tables, GUI statistics) goes through it,
// and parse_csv reads them back (e.g. to merge the summaries of shards).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// The records of RFC 4180 text (quoted fields may hold commas, doubled
/// quotes and line breaks; "\r\n" or "\n" ends a record; a last record
/// without a line break counts). Nothing when a quoted field is not closed.
inline std::optional<std::vector<std::vector<std::string>>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  bool any = false;  // the current record has begun
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
      any = false;
    } else {
      field += c;
    }
  }
  if (quoted) return std::nullopt;
  if (any) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace medseg::core
