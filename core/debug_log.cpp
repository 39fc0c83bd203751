#include "core/debug_log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace medseg::core {

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
      std::fwrite(out.data(), 1, out.size(), stderr);
    }
    begin = end + 1;
  }
}

}  // namespace medseg::core
