#pragma once
// Small text outputs (reports, logs, configs, CSV) written so that a reader
// or a crash never sees half a file, and the timestamp they carry.
#include <filesystem>
#include <string>

namespace medseg::pipeline {

/// Writes `text` to `path` through a temporary file in the same folder and a
/// rename (atomic). Throws IoError.
void write_text_file_atomically(const std::filesystem::path& path, const std::string& text);

/// Current time as ISO 8601 UTC, e.g. "2026-11-23T16:04:00Z".
std::string utc_timestamp();

}  // namespace medseg::pipeline
