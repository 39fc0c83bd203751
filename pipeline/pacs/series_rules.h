#pragma once
// Which rule of node.yaml a received series falls under.
#include <string>
#include <vector>

#include "pipeline/config/node_config.h"

namespace medseg::pipeline::pacs {

/// What a rule looks at, read from one instance of the series.
struct SeriesAttributes {
  std::string modality;
  std::string body_part;
  std::string series_description;
};

/// The first rule that `series` satisfies (see Rule), or nullptr. Modality
/// codes compare case-insensitively; patterns are searched anywhere in the
/// value, case-insensitively (anchor them with ^...$ for a whole match).
const Rule* match_rule(const std::vector<Rule>& rules, const SeriesAttributes& series);

}  // namespace medseg::pipeline::pacs
