#include "core/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "tests/common/temp_dir.h"

namespace medseg::core {
namespace {
namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int entries(const fs::path& folder) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(folder)) ++n;
  return n;
}

}  // namespace

TEST(AtomicFile, TemporarySiblingIsHiddenUniqueAndKeepsTheExtension) {
  const fs::path a = temporary_sibling("out/case1.nii.gz", ".nii.gz");
  const fs::path b = temporary_sibling("out/case1.nii.gz", ".nii.gz");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.parent_path(), fs::path("out"));
  const std::string name = a.filename().string();
  EXPECT_EQ(name.rfind(".case1.partial-", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 7), ".nii.gz") << name;
  EXPECT_EQ(temporary_sibling("bundle/").parent_path(), fs::path("."));
  EXPECT_EQ(temporary_sibling("bundle/").filename().string().rfind(".bundle.partial-", 0), 0u);
}

TEST(AtomicFile, TextReplacesTheTargetWholeAndLeavesNoTemporary) {
  test::TempDir dir;
  core::write_text_file_atomically(dir / "r.json", "old");
  core::write_text_file_atomically(dir / "r.json", "new content");
  EXPECT_EQ(read(dir / "r.json"), "new content");
  EXPECT_EQ(entries(dir.path()), 1);
}

TEST(AtomicFile, AFailingWriterLeavesTheOldFileAndNoTemporary) {
  test::TempDir dir;
  core::write_text_file_atomically(dir / "r.json", "old");
  EXPECT_THROW(write_file_atomically(dir / "r.json",
                                     [](const fs::path& temp) {
                                       std::ofstream(temp) << "half";
                                       throw std::runtime_error("disk full");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read(dir / "r.json"), "old");
  EXPECT_EQ(entries(dir.path()), 1);
}

TEST(AtomicFile, AMissingFolderIsAnIoErrorNamingTheTarget) {
  test::TempDir dir;
  try {
    core::write_text_file_atomically(dir / "no_such_folder" / "r.json", "x");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("r.json"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, FolderIsReplacedWholeAndAFailedFillChangesNothing) {
  test::TempDir dir;
  const fs::path target = dir / "sub" / "bundle";
  write_folder_atomically(target, [](const fs::path& f) {
    std::ofstream(f / "a") << "1";
    std::ofstream(f / "b") << "2";
  });
  EXPECT_EQ(read(target / "a"), "1");
  write_folder_atomically(target, [](const fs::path& f) { std::ofstream(f / "c") << "3"; });
  EXPECT_FALSE(fs::exists(target / "a"));
  EXPECT_EQ(read(target / "c"), "3");
  EXPECT_THROW(write_folder_atomically(target,
                                       [](const fs::path& f) {
                                         std::ofstream(f / "d") << "4";
                                         throw IoError("fill failed");
                                       }),
               IoError);
  EXPECT_EQ(read(target / "c"), "3");
  EXPECT_FALSE(fs::exists(target / "d"));
  EXPECT_EQ(entries(dir / "sub"), 1) << "a temporary folder was left behind";
}

TEST(AtomicFile, StaleTemporariesOfDeadProcessesAreRemovedOthersKept) {
  test::TempDir dir;
  // A process id that has certainly ended: a child that exited and was reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  const std::string dead = std::to_string(child), alive = std::to_string(::getppid());
  std::ofstream(dir / (".checkpoint.pt.partial-" + dead + "-0")) << "half";
  std::ofstream(dir / (".case1.partial-" + dead + "-12.nii.gz")) << "half";
  fs::create_directory(dir / (".model_last.partial-" + dead + "-3"));
  std::ofstream(dir / (".model_last.partial-" + dead + "-3") / "weights.pt") << "old";
  std::ofstream(dir / (".log.partial-" + alive + "-0")) << "being written";  // a live writer
  std::ofstream(dir / "checkpoint.pt") << "complete";
  std::ofstream(dir / (".notes.partial-" + dead)) << "not our pattern";
  std::ofstream(dir / ("x.partial-" + dead + "-0")) << "not hidden: not ours";
  fs::create_directory(dir / "sub");
  std::ofstream(dir / "sub" / (".a.partial-" + dead + "-0")) << "subfolders are not looked into";
  EXPECT_EQ(remove_stale_temporaries(dir.path()), 3);
  EXPECT_TRUE(fs::exists(dir / (".log.partial-" + alive + "-0")));
  EXPECT_TRUE(fs::exists(dir / "checkpoint.pt"));
  EXPECT_TRUE(fs::exists(dir / (".notes.partial-" + dead)));
  EXPECT_TRUE(fs::exists(dir / ("x.partial-" + dead + "-0")));
  EXPECT_TRUE(fs::exists(dir / "sub" / (".a.partial-" + dead + "-0")));
  EXPECT_EQ(entries(dir.path()), 5);
  EXPECT_EQ(remove_stale_temporaries(dir / "no_such_folder"), 0);
}

}  // namespace medseg::core
