#include "pipeline/io/detail/metaimage_check.h"

#include <fstream>
#include <string>

#include "core/error_message.h"
#include "pipeline/io/detail/reader_common.h"

namespace medseg::pipeline::detail {
namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

void check_metaimage_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::size_t read = 0;
  // MetaIO reads "Key = Value" lines up to ElementDataFile; the voxels follow.
  while (read < (1u << 20) && std::getline(in, line)) {
    read += line.size() + 1;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "ElementDataFile") {
      // "name%03d.raw MIN MAX STEP" names one file per slice; MetaIO divides
      // by STEP unchecked (SIGFPE with a step of 0, found by fuzz_metaimage).
      if (value.find('%') != std::string::npos) {
        fail_to_read(path, "MetaImage ElementDataFile " + core::quote_short(value) +
                               " is a numbered file pattern, which medseg does not read");
      }
      return;
    }
    if (key != "NDims") continue;
    if (value.empty() || value.size() > 2 || value.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(value) < 1 || std::stoi(value) > 10) {
      fail_to_read(path, "MetaImage NDims is " + core::quote_short(value) + ", not a number of axes from 1 to 10");
    }
  }
}

}  // namespace medseg::pipeline::detail
