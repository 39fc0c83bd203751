// `medseg train` end to end on tiny synthetic configs: an interrupted
// (kill -9) and resumed run ends with the same weights as an uninterrupted
// one, diverging training stops with a clear message, bad configs name the
// key and line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/app/cli_helpers.h"
#include "tests/app/train_run_helpers.h"
#include "models/bundle.h"

namespace {
namespace fs = std::filesystem;
using namespace medseg::test;
using medseg::test::medseg;

// Small enough for seconds per run, big enough that every label appears.
std::string tiny_config(const std::string& extra_training = "") {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2, deep_supervision: true}\n"
         "training:\n"
         "  epochs: 4\n"
         "  iterations_per_epoch: 6\n"
         "  batch_size: 2\n"
         "  patch_size: [16, 16, 16]\n"
         "  seed: 3\n"
         "  threads: 2\n" +
         extra_training + "validation: {every: 2}\noutput: run\n";
}

void expect_same_weights(const fs::path& a, const fs::path& b) {
  auto x = medseg::models::load_bundle(a).model;
  auto y = medseg::models::load_bundle(b).model;
  auto px = x->named_parameters(), py = y->named_parameters();
  ASSERT_EQ(px.size(), py.size());
  for (const auto& item : px) {
    EXPECT_TRUE(torch::equal(item.value(), py[item.key()])) << item.key() << " max diff "
        << (item.value() - py[item.key()]).abs().max().item<double>();
  }
  auto bx = x->named_buffers(), by = y->named_buffers();
  for (const auto& item : bx) EXPECT_TRUE(torch::equal(item.value(), by[item.key()])) << item.key();
}

TEST(TrainCli, KilledAndResumedRunEndsWithTheSameWeights) {
  CliTempDir a, b;
  // Long enough epochs (~1 s) to land the kill inside one.
  std::string config = tiny_config();
  config.replace(config.find("iterations_per_epoch: 6"), 23, "iterations_per_epoch: 24");
  write_text(a / "config.yaml", config);
  write_text(b / "config.yaml", config);

  const Result full = medseg("train " + quoted(a / "config.yaml"));
  ASSERT_EQ(full.exit_code, 0) << full.out << full.err;
  const auto full_log = read_log(a / "run/log.jsonl");
  ASSERT_EQ(full_log.size(), 4u);

  // Kill -9 in the middle of epoch 2 (after epoch 1's checkpoint).
  const pid_t pid = spawn_medseg({"train", (b / "config.yaml").string()}, b / "first.txt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::vector<nlohmann::json> log;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(b / "run/log.jsonl")) log = read_log(b / "run/log.jsonl");
    if (!log.empty() && fs::exists(b / "run/checkpoint.pt")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(log.empty()) << slurp(b / "first.txt");
  // A tenth of epoch 1 into epoch 2: half of it let a run whose first epoch
  // was slowed by a parallel test finish all three faster later ones in CI.
  const double epoch_seconds = log.front().at("train_seconds").get<double>();
  std::this_thread::sleep_for(std::chrono::duration<double>(0.1 * epoch_seconds));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  EXPECT_LT(read_log(b / "run/log.jsonl").size(), 4u);

  const Result resumed = medseg("train --resume " + quoted(b / "config.yaml"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed after epoch"), std::string::npos) << resumed.out;
  const auto resumed_log = read_log(b / "run/log.jsonl");
  ASSERT_EQ(resumed_log.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(resumed_log[e].at("epoch"), full_log[e].at("epoch"));
    EXPECT_EQ(resumed_log[e].at("train_loss").get<double>(), full_log[e].at("train_loss").get<double>()) << e;
  }
  expect_same_weights(a / "run/model_last", b / "run/model_last");
}

// Starts `medseg train [--resume] CONFIG` with MEDSEG_TEST_PAUSE_WRITE=pause
// (core/atomic_file.h), waits until it reports that it stopped inside the
// asked write window, and returns its pid and the paused temporary.
struct PausedRun {
  pid_t pid = 0;
  fs::path temporary;
};
PausedRun train_until_paused(const fs::path& config, bool resume, const std::string& pause, const fs::path& out) {
  setenv("MEDSEG_TEST_PAUSE_WRITE", pause.c_str(), 1);
  setenv("MEDSEG_TEST_PAUSE_SECONDS", "60", 1);
  std::vector<std::string> args{"train"};
  if (resume) args.push_back("--resume");
  args.push_back(config.string());
  PausedRun run;
  run.pid = spawn_medseg(args, out);
  unsetenv("MEDSEG_TEST_PAUSE_WRITE");
  unsetenv("MEDSEG_TEST_PAUSE_SECONDS");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = slurp(out);
    const auto at = text.find("(temporary '");
    if (at != std::string::npos && text.find("')", at) != std::string::npos) {
      run.temporary = text.substr(at + 12, text.find("')", at) - at - 12);
      return run;
    }
    int status = 0;
    if (waitpid(run.pid, &status, WNOHANG) == run.pid) {
      ADD_FAILURE() << "medseg ended without pausing at " << pause << ": " << slurp(out);
      run.pid = 0;
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "no pause at " << pause << " within 120 s: " << slurp(out);
  return run;
}

void kill_paused(const PausedRun& run) {
  ASSERT_GT(run.pid, 0);
  ASSERT_EQ(kill(run.pid, SIGKILL), 0);
  int status = 0;
  waitpid(run.pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
}

std::int64_t checkpoint_epoch(const fs::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  torch::Tensor epoch;
  archive.read("epoch", epoch);
  return epoch.item<std::int64_t>();
}

std::vector<fs::path> temporaries(const fs::path& folder) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().filename().string().find(".partial-") != std::string::npos) found.push_back(e.path());
  }
  return found;
}

// The core of the kill -9 soak (scripts/soak_kill9.py), in seconds: killed
// with the checkpoint half-written, then with a bundle swapped in but the old
// one not yet removed, the run resumes each time and ends with the weights
// and losses of an uninterrupted run. Fails if the checkpoint were written in
// place (half a file where the last complete one was) or if a resume lost
// any state.
TEST(TrainCli, KilledInsideCheckpointAndBundleWritesResumesToTheSameWeights) {
  CliTempDir a, b;
  write_text(a / "config.yaml", tiny_config());
  write_text(b / "config.yaml", tiny_config());
  const Result full = medseg("train " + quoted(a / "config.yaml"));
  ASSERT_EQ(full.exit_code, 0) << full.out << full.err;
  const auto full_log = read_log(a / "run/log.jsonl");
  ASSERT_EQ(full_log.size(), 4u);

  // 1. Epoch 2's checkpoint half-written: epoch 1's is the one in place.
  const PausedRun first = train_until_paused(b / "config.yaml", false, "checkpoint.pt@2:half", b / "first.txt");
  ASSERT_GT(first.pid, 0);
  EXPECT_GT(fs::file_size(first.temporary), 0u);
  EXPECT_LT(fs::file_size(first.temporary), fs::file_size(b / "run/checkpoint.pt") * 3 / 4);
  EXPECT_EQ(checkpoint_epoch(b / "run/checkpoint.pt"), 1);
  kill_paused(first);
  EXPECT_EQ(checkpoint_epoch(b / "run/checkpoint.pt"), 1);

  // 2. Resumed, killed when epoch 2's model_last is in place and the old
  // one, under a temporary name, not yet removed.
  const PausedRun second = train_until_paused(b / "config.yaml", true, "model_last@1:swapped", b / "second.txt");
  ASSERT_GT(second.pid, 0);
  EXPECT_TRUE(fs::is_directory(second.temporary));
  EXPECT_EQ(checkpoint_epoch(b / "run/checkpoint.pt"), 1);
  kill_paused(second);
  EXPECT_NO_THROW(medseg::models::load_bundle(b / "run/model_last"));
  EXPECT_FALSE(temporaries(b / "run").empty());

  // 3. Resumed to the end: the temporaries of the killed runs are removed.
  const Result resumed = medseg("train --resume " + quoted(b / "config.yaml"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed after epoch 1"), std::string::npos) << resumed.out;
  EXPECT_TRUE(temporaries(b / "run").empty()) << temporaries(b / "run").front();
  EXPECT_EQ(checkpoint_epoch(b / "run/checkpoint.pt"), 4);
  const auto resumed_log = read_log(b / "run/log.jsonl");
  ASSERT_EQ(resumed_log.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(resumed_log[e].at("train_loss").get<double>(), full_log[e].at("train_loss").get<double>()) << e;
    EXPECT_EQ(resumed_log[e].value("mean_validation_dice", -1.0), full_log[e].value("mean_validation_dice", -1.0));
    EXPECT_EQ(resumed_log[e].at("best"), full_log[e].at("best")) << e;
  }
  expect_same_weights(a / "run/model_last", b / "run/model_last");
  expect_same_weights(a / "run/model_best", b / "run/model_best");
}

TEST(TrainCli, RefusesToOverwriteARunAndToResumeWithAnotherConfig) {
  CliTempDir dir;
  write_text(dir / "config.yaml", tiny_config());
  ASSERT_EQ(medseg("train --set training.epochs=1 " + quoted(dir / "config.yaml")).exit_code, 0);
  const Result again = medseg("train --set training.epochs=1 " + quoted(dir / "config.yaml"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_EQ(count_lines(again.err), 1) << again.err;
  const Result other = medseg("train --resume --set training.epochs=2 " + quoted(dir / "config.yaml"));
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("config differs"), std::string::npos) << other.err;
}

// A run folder written by an older medseg lacks keys added since (as
// training.sync_batch_norm was): it resumes when the key's default is what
// the config says, and still refuses a changed value. Started from the
// config's folder with a relative path, as most runs are.
TEST(TrainCli, ResumesARunSavedWithoutAKeyAddedSince) {
  CliTempDir dir;
  write_text(dir / "config.yaml", tiny_config());
  const std::string train = "cd " + quoted(dir.path()) + " && '" MEDSEG_BINARY "' train --set training.epochs=1 ";
  ASSERT_EQ(run(train + "config.yaml").exit_code, 0);
  const std::string saved = slurp(dir / "run/config.yaml");
  const auto key = saved.find("  sync_batch_norm: true\n");
  ASSERT_NE(key, std::string::npos) << saved;
  std::string older = saved;
  older.erase(key, std::string("  sync_batch_norm: true\n").size());
  write_text(dir / "run/config.yaml", older);
  const Result resumed = run(train + "--resume config.yaml");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resumed after epoch 1"), std::string::npos) << resumed.out;

  std::string changed = older;
  changed.replace(changed.find("  seed: 3\n"), 10, "  seed: 4\n");
  write_text(dir / "run/config.yaml", changed);
  const Result refused = run(train + "--resume config.yaml");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("config differs"), std::string::npos) << refused.err;
}

TEST(TrainCli, DivergingTrainingStopsWithAClearMessage) {
  CliTempDir dir;
  write_text(dir / "config.yaml",
             tiny_config("  learning_rate: 10.0\n  momentum: 0.9999\n  weight_decay: 1.0\n  gradient_clip: 0\n"));
  const Result r = medseg("train " + quoted(dir / "config.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("training diverged at epoch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("learning_rate"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  // The last complete epoch's checkpoint survives and is the one named.
  if (fs::exists(dir / "run/checkpoint.pt")) {
    const auto log = read_log(dir / "run/log.jsonl");
    ASSERT_FALSE(log.empty());
    EXPECT_NE(r.err.find("checkpoint of epoch " + std::to_string(log.back().at("epoch").get<int>())),
              std::string::npos)
        << r.err;
  }
}

TEST(TrainCli, LabelMismatchNamesTheKeyAndLine) {
  CliTempDir dir;
  std::string config = tiny_config();
  config.replace(config.find("  num_folds"), 0, "  labels: {0: background, 1: organ, 2: tumour}\n");
  write_text(dir / "config.yaml", config);
  const Result r = medseg("train " + quoted(dir / "config.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'dataset.labels', line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 box"), std::string::npos) << r.err;  // what the dataset has
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(TrainCli, BadConfigsNameTheKeyAndLine) {
  struct Case {
    std::string from, to, expected;
  };
  const std::vector<Case> cases{
      {"  epochs: 4", "  epochz: 4", "'training.epochz', line 6"},                // unknown key
      {"  epochs: 4", "  epochs: four", "'training.epochs', line 6"},            // wrong type
      {"  batch_size: 2", "  batch_size: 0", "'training.batch_size', line 8"},   // out of range
      {"  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}",
       "  source: no_such_folder", "'dataset.source', line 2"},                  // missing dataset
  };
  for (const auto& c : cases) {
    CliTempDir dir;
    std::string config = tiny_config();
    config.replace(config.find(c.from), c.from.size(), c.to);
    write_text(dir / "config.yaml", config);
    const Result r = medseg("train " + quoted(dir / "config.yaml"));
    EXPECT_EQ(r.exit_code, 2) << c.to;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.to << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

}  // namespace
