#pragma once
// Following a `medseg train` run from tests: its log.jsonl read with
// nlohmann::json (independently of the code under test), and the binary
// started in the background with its output in a file (to kill it, or to
// run ranks side by side).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace medseg::test {

inline std::vector<nlohmann::json> read_log(const std::filesystem::path& file) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

#ifdef MEDSEG_BINARY
/// Starts `medseg ARGS...` with stdout and stderr in `log`; the caller waits.
inline pid_t spawn_medseg(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> all{MEDSEG_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, MEDSEG_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}
#endif

}  // namespace medseg::test
