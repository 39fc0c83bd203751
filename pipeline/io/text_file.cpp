#include "pipeline/io/text_file.h"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <system_error>

#include "models/error.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

void write_text_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path temp = folder / ("." + path.filename().string() + ".partial-" + std::to_string(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(temp, ec);
      throw IoError("cannot write '" + path.string() + "'");
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    throw IoError("cannot write '" + path.string() + "': " + reason);
  }
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace medseg::pipeline
