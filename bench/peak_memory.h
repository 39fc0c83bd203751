#pragma once
// Peak resident memory of this process (Linux): VmHWM, which can be reset
// by writing "5" to /proc/self/clear_refs, so a benchmark can measure the
// peak of its own work rather than of its set-up.
#include <fstream>
#include <string>

namespace medseg::bench {

inline void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// Peak resident set size in MiB since the last reset (or process start).
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kib = 0;
      status >> kib;
      return kib / 1024.0;
    }
  }
  return -1.0;
}

}  // namespace medseg::bench
