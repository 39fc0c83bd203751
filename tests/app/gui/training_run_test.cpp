// The Train panel's Qt-free side: the config check gives the loader's
// file/key/line error, the log reader takes the trainer's own lines (and
// ignores a line still being written), and a pid file pointing at anything
// but a live `medseg train` is not taken for a run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "app/gui/logic/training_run.h"
#include "core/error.h"
#include "pipeline/train/trainer.h"
#include "tests/common/temp_dir.h"

namespace medseg::gui {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(TrainingRun, ConfigCheckGivesTheLoadersErrorWithItsLine) {
  test::TempDir dir;
  write(dir / "bad.yaml",
        "dataset:\n  synthetic: {count: 2, size: 16}\n"
        "training:\n  epochs: 4\n  batch_size: many\n"
        "output: run\n");
  const TrainingConfigCheck bad = check_training_config(dir / "bad.yaml");
  EXPECT_NE(bad.error.find("batch_size"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("line 5"), std::string::npos) << bad.error;
  EXPECT_EQ(bad.error.find('\n'), std::string::npos) << bad.error;

  write(dir / "good.yaml",
        "dataset:\n  synthetic: {count: 2, size: 16}\n"
        "training:\n  epochs: 7\n"
        "validation: {every: 3}\n"
        "output: run\n");
  TrainingConfigCheck good = check_training_config(dir / "good.yaml");
  EXPECT_EQ(good.error, "");
  EXPECT_EQ(good.epochs, 7);
  EXPECT_EQ(good.validate_every, 3);
  EXPECT_EQ(good.output, dir / "run");  // relative to the config, as the CLI resolves it
  EXPECT_FALSE(good.resumable);
  fs::create_directories(dir / "run");
  write(dir / "run" / "checkpoint.pt", "x");
  EXPECT_TRUE(check_training_config(dir / "good.yaml").resumable);

  EXPECT_NE(check_training_config(dir / "missing.yaml").error.find("missing.yaml"), std::string::npos);
}

TEST(TrainingRun, CommandLineAndCliLookup) {
  EXPECT_EQ(train_arguments("/c/x.yaml", false), (std::vector<std::string>{"train", "/c/x.yaml"}));
  EXPECT_EQ(train_arguments("/c/x.yaml", true), (std::vector<std::string>{"train", "--resume", "/c/x.yaml"}));
  test::TempDir dir;
  fs::create_directories(dir / "app" / "gui");
  EXPECT_FALSE(find_medseg_cli(dir / "app" / "gui").has_value());
  write(dir / "app" / "medseg", "");  // the build tree: app/medseg beside app/gui/
  EXPECT_EQ(find_medseg_cli(dir / "app" / "gui"), dir / "app" / "medseg");
  write(dir / "app" / "gui" / "medseg", "");  // installed side by side: that one first
  EXPECT_EQ(find_medseg_cli(dir / "app" / "gui"), dir / "app" / "gui" / "medseg");
}

TEST(TrainingRun, ReadsTheTrainersLogLinesAndWaitsForAnUnfinishedOne) {
  pipeline::EpochRecord a;
  a.epoch = 1;
  a.train_loss = 1.25;
  a.precision = "fp32";
  pipeline::EpochRecord b;
  b.epoch = 2;
  b.train_loss = 0.75;
  b.validation_dice = {0.5, std::nan("")};  // a label absent from validation: null in the log
  b.mean_validation_dice = 0.5;
  b.best = true;
  const std::string text = pipeline::to_json_line(a) + "\n" + pipeline::to_json_line(b) + "\n";

  const auto log = parse_training_log(text + "{\"epoch\": 3, \"train_lo");  // being appended
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].epoch, 1);
  EXPECT_DOUBLE_EQ(log[0].train_loss, 1.25);
  EXPECT_TRUE(log[0].validation_dice.empty());
  EXPECT_EQ(log[0].precision, "fp32");
  EXPECT_EQ(log[1].epoch, 2);
  ASSERT_EQ(log[1].validation_dice.size(), 2u);
  EXPECT_DOUBLE_EQ(log[1].validation_dice[0], 0.5);
  EXPECT_TRUE(std::isnan(log[1].validation_dice[1]));
  EXPECT_DOUBLE_EQ(log[1].mean_validation_dice, 0.5);
  EXPECT_TRUE(log[1].best);

  try {
    parse_training_log(text + "not json\n");
    FAIL() << "a malformed complete line was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }

  test::TempDir dir;
  EXPECT_TRUE(read_training_log(dir.path()).empty());  // no log yet
  write(dir / "log.jsonl", text);
  EXPECT_EQ(read_training_log(dir.path()).size(), 2u);
}

TEST(TrainingRun, APidFileCountsOnlyForALiveMedsegTrain) {
  test::TempDir dir;
  EXPECT_FALSE(running_training(dir.path()).has_value());  // no pid file
  // This test process is alive but is not `medseg train`: a recycled pid.
  write(training_pid_file(dir.path()), std::to_string(getpid()) + "\n");
  EXPECT_TRUE(process_alive(getpid()));
  EXPECT_FALSE(running_training(dir.path()).has_value());
  // An exited process: alive only as a zombie until reaped, then gone.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  for (int i = 0; i < 200 && process_alive(child); ++i) usleep(10000);
  EXPECT_FALSE(process_alive(child));  // a zombie is not alive
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(process_alive(child));
  write(training_pid_file(dir.path()), "garbage\n");
  EXPECT_FALSE(running_training(dir.path()).has_value());
}

TEST(TrainingRun, LastErrorLineOfTheConsole) {
  test::TempDir dir;
  write(dir / "console.log", "epoch 1/4 loss 0.9\nmedseg: error: disk full\nsomething else\n");
  EXPECT_EQ(last_error_line(dir / "console.log"), "medseg: error: disk full");
  write(dir / "quiet.log", "epoch 1/4\n");
  EXPECT_EQ(last_error_line(dir / "quiet.log"), "");
}

}  // namespace
}  // namespace medseg::gui
