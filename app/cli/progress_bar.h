#pragma once
// A one-line console progress bar with ETA, redrawn in place on a terminal;
// on a pipe or file (batch scripts, CI logs) it stays silent so logs hold
// only the per-epoch / per-case lines.
#include <chrono>
#include <cstdint>
#include <string>

namespace medseg::app {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  /// `done` of `total` units; `text` is appended (e.g. "loss 0.41").
  void update(std::int64_t done, std::int64_t total, const std::string& text = {});
  /// Clears the line (before printing a normal line).
  void clear();
  /// Restarts the clock used for the ETA.
  void restart(std::string label);

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool terminal_;
  bool drawn_ = false;
};

/// "1:05" / "1:02:03".
std::string format_duration(double seconds);

}  // namespace medseg::app
