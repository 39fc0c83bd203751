#include "core/debug_log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace medseg::core {
namespace {

std::atomic<int> log_fd{STDERR_FILENO};

}  // namespace

void set_debug_log_fd(int fd) { log_fd.store(fd); }

bool debug_log_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("MEDSEG_DEBUG");
    return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

void debug_log(std::string_view source, std::string_view text) {
  if (!debug_log_enabled()) return;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      const std::string out = "medseg: debug: " + std::string(source) + ": " + std::string(line) + "\n";
      // One write per line: lines of threads logging at once do not mix.
      if (::write(log_fd.load(), out.data(), out.size()) < 0) return;
    }
    begin = end + 1;
  }
}

}  // namespace medseg::core
