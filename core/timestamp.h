#pragma once
// The one timestamp format medseg writes (reports, logs, bundle provenance).
#include <string>

namespace medseg::core {

/// Current time as ISO 8601 UTC, e.g. "2026-11-23T16:04:00Z".
std::string utc_timestamp();

}  // namespace medseg::core
