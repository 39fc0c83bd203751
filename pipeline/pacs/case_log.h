#pragma once
// The node's log: one JSON object per line, appended to one file (default
// QUEUE/cases.jsonl) and flushed line by line, so `tail -f` and a crash both
// see whole lines. Every case event (received, queued, segmented, sent,
// retry, failed, ...) and every refused association or instance is a line;
// docs/dicom.md lists the events and fields. No patient names or IDs are
// logged, only UIDs, codes and counts.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

namespace medseg::pipeline::pacs {

struct LogField {
  using Value = std::variant<std::string, double, std::int64_t, bool>;
  LogField(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, double v) : key(std::move(k)), value(v) {}
  LogField(std::string k, int v) : key(std::move(k)), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string k, std::int64_t v) : key(std::move(k)), value(v) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v) {}
  std::string key;
  Value value;
};
using LogFields = std::vector<LogField>;

class CaseLog {
 public:
  /// Opens `file` for appending (creating its folder). Throws IoError.
  explicit CaseLog(std::filesystem::path file);
  ~CaseLog();
  CaseLog(const CaseLog&) = delete;
  CaseLog& operator=(const CaseLog&) = delete;

  /// Appends {"time": ISO 8601 UTC with ms, "event": EVENT, FIELDS...} as one
  /// line with one write(2); thread-safe. A failing write is reported once on
  /// stderr and never throws (the node keeps running).
  void write(const std::string& event, const LogFields& fields = {});

  /// Also hands each line, as short human-readable text, to `echo` (the
  /// CLI prints it).
  void set_echo(std::function<void(const std::string&)> echo);

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  bool reported_ = false;
  std::function<void(const std::string&)> echo_;
  std::mutex mutex_;
};

}  // namespace medseg::pipeline::pacs
