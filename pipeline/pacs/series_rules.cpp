#include "pipeline/pacs/series_rules.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace medseg::pipeline::pacs {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool pattern_matches(const std::string& pattern, const std::string& value) {
  if (pattern.empty()) return true;
  // Checked when the config was loaded; an exception here is a bug.
  const std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
  return std::regex_search(value, re);
}

bool matches(const Rule& rule, const SeriesAttributes& s) {
  if (!rule.modalities.empty()) {
    const std::string m = upper(s.modality);
    if (std::none_of(rule.modalities.begin(), rule.modalities.end(),
                     [&m](const std::string& wanted) { return upper(wanted) == m; })) {
      return false;
    }
  }
  return pattern_matches(rule.body_part, s.body_part) && pattern_matches(rule.series_description, s.series_description);
}

}  // namespace

const Rule* match_rule(const std::vector<Rule>& rules, const SeriesAttributes& series) {
  for (const auto& rule : rules) {
    if (matches(rule, series)) return &rule;
  }
  return nullptr;
}

}  // namespace medseg::pipeline::pacs
