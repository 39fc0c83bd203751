#pragma once
// Running the real medseg binary from tests: temporary folders, captured
// output and exit codes.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "tests/common/temp_dir.h"

namespace medseg::test {
namespace fs = std::filesystem;

using CliTempDir = TempDir;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline Result run(const std::string& command) {
  CliTempDir io;
  const std::string full = command + " > '" + (io / "out").string() + "' 2> '" + (io / "err").string() + "'";
  const int status = std::system(full.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(io / "out");
  r.err = slurp(io / "err");
  return r;
}

inline Result medseg(const std::string& args) { return run(std::string("'") + MEDSEG_BINARY + "' " + args); }

inline void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace medseg::test
