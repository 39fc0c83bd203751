// `medseg train` data-parallel end to end, all ranks on 127.0.0.1: two ranks
// with batch B end where one process with batch 2B ends; a rank killed
// mid-step stops the other within --dist-timeout and the run resumes with
// another world size; sync_batch_norm: false keeps statistics per rank;
// torchrun --no_python and Open MPI's mpirun launch the ranks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "models/bundle.h"
#include "tests/app/cli_helpers.h"
#include "tests/app/train_run_helpers.h"

namespace {
namespace fs = std::filesystem;
using namespace medseg::test;
using medseg::test::medseg;
using Clock = std::chrono::steady_clock;

// Two scanner domains, seconds per run; one compute thread per rank (two
// ranks share the machine's two cores).
std::string tiny_config(int epochs, int iterations) {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2, deep_supervision: true}\n"
         "training:\n"
         "  epochs: " + std::to_string(epochs) + "\n"
         "  iterations_per_epoch: " + std::to_string(iterations) + "\n"
         "  batch_size: 2\n"
         "  patch_size: [16, 16, 16]\n"
         "  precision: fp32\n"
         "  learning_rate: 0.02\n"
         "  momentum: 0.9\n"
         "  seed: 3\n"
         "  threads: 1\n"
         "validation: {every: 1}\noutput: run\n";
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Exit code of `pid`, or -1 if it is still running at `deadline`.
int wait_until(pid_t pid, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::vector<std::string> rank_args(const fs::path& config, int rank, int port, const std::string& extra = {}) {
  std::vector<std::string> args{"train", config.string(), "--dist-url", "tcp://127.0.0.1:" + std::to_string(port),
                                "--rank", std::to_string(rank), "--world-size", "2"};
  if (!extra.empty()) args.push_back(extra);
  return args;
}

void expect_close_weights(const fs::path& a, const fs::path& b, double tol) {
  auto x = medseg::models::load_bundle(a).model;
  auto y = medseg::models::load_bundle(b).model;
  auto px = x->named_parameters(), py = y->named_parameters();
  ASSERT_EQ(px.size(), py.size());
  for (const auto& item : px) {
    const double diff = (item.value() - py[item.key()]).abs().max().item<double>();
    EXPECT_LE(diff, tol) << item.key();
  }
  auto bx = x->named_buffers(), by = y->named_buffers();
  for (const auto& item : bx) {
    const auto other = by[item.key()];
    const double diff = (item.value().to(torch::kDouble) - other.to(torch::kDouble)).abs().max().item<double>();
    EXPECT_LE(diff, tol) << item.key();
  }
}

// Largest difference over the parameters and buffers of two bundles.
double max_difference(const fs::path& a, const fs::path& b) {
  auto x = medseg::models::load_bundle(a).model;
  auto y = medseg::models::load_bundle(b).model;
  double most = 0.0;
  auto by = y->named_buffers();
  for (const auto& item : x->named_buffers()) {
    if (!item.value().is_floating_point()) continue;
    most = std::max(most, (item.value() - by[item.key()]).abs().max().item<double>());
  }
  auto py = y->named_parameters();
  for (const auto& item : x->named_parameters()) {
    most = std::max(most, (item.value() - py[item.key()]).abs().max().item<double>());
  }
  return most;
}

TEST(DistributedTrainCli, TwoRanksWithBatchBEndLikeOneProcessWithBatch2B) {
  CliTempDir one, two;
  write_text(one / "config.yaml", tiny_config(2, 3));
  write_text(two / "config.yaml", tiny_config(2, 3));
  const Result single = medseg("train --set training.batch_size=4 " + quoted(one / "config.yaml"));
  ASSERT_EQ(single.exit_code, 0) << single.out << single.err;

  const int port = free_port();
  const pid_t r0 = spawn_medseg(rank_args(two / "config.yaml", 0, port, "--dist-timeout=60"), two / "rank0.txt");
  const pid_t r1 = spawn_medseg(rank_args(two / "config.yaml", 1, port, "--dist-timeout=60"), two / "rank1.txt");
  const auto deadline = Clock::now() + std::chrono::seconds(180);
  ASSERT_EQ(wait_until(r0, deadline), 0) << slurp(two / "rank0.txt");
  ASSERT_EQ(wait_until(r1, deadline), 0) << slurp(two / "rank1.txt");
  EXPECT_TRUE(slurp(two / "rank1.txt").empty()) << "only rank 0 reports: " << slurp(two / "rank1.txt");
  EXPECT_NE(slurp(two / "rank0.txt").find("2 ranks (global batch 4, batch norm synchronized)"), std::string::npos)
      << slurp(two / "rank0.txt");

  const auto log1 = read_log(one / "run/log.jsonl");
  const auto log2 = read_log(two / "run/log.jsonl");
  ASSERT_EQ(log2.size(), 2u);  // rank 0 alone wrote it
  ASSERT_EQ(log1.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(log2[e].at("world_size"), 2);
    EXPECT_GT(log2[e].at("communication_bytes").get<double>(), 0.0);
    EXPECT_NEAR(log2[e].at("train_loss").get<double>(), log1[e].at("train_loss").get<double>(), 1e-4) << e;
  }
  expect_close_weights(one / "run/model_last", two / "run/model_last", 1e-4);

  // sync_batch_norm: false keeps each rank's statistics local: the same two
  // ranks then no longer end where one process with batch 2B ends.
  CliTempDir local;
  write_text(local / "config.yaml", tiny_config(2, 3));
  const int port2 = free_port();
  const std::string off = "--set=training.sync_batch_norm=false";
  const pid_t l0 = spawn_medseg(rank_args(local / "config.yaml", 0, port2, off), local / "rank0.txt");
  const pid_t l1 = spawn_medseg(rank_args(local / "config.yaml", 1, port2, off), local / "rank1.txt");
  const auto deadline2 = Clock::now() + std::chrono::seconds(180);
  ASSERT_EQ(wait_until(l0, deadline2), 0) << slurp(local / "rank0.txt");
  ASSERT_EQ(wait_until(l1, deadline2), 0) << slurp(local / "rank1.txt");
  EXPECT_NE(slurp(local / "rank0.txt").find("2 ranks (global batch 4, batch norm per rank)"), std::string::npos)
      << slurp(local / "rank0.txt");
  const auto log3 = read_log(local / "run/log.jsonl");
  ASSERT_EQ(log3.size(), 2u);
  EXPECT_LT(log3[1].at("communication_bytes").get<double>(), log2[1].at("communication_bytes").get<double>())
      << "no batch-statistics all-reduces";
  EXPECT_GT(max_difference(one / "run/model_last", local / "run/model_last"), 1e-3);
}

TEST(DistributedTrainCli, AKilledRankStopsTheOtherWithinTheTimeoutAndTheRunResumesOnOneRank) {
  CliTempDir dir;
  write_text(dir / "config.yaml", tiny_config(4, 12));
  const int port = free_port();
  const pid_t r0 = spawn_medseg(rank_args(dir / "config.yaml", 0, port, "--dist-timeout=5"), dir / "rank0.txt");
  const pid_t r1 = spawn_medseg(rank_args(dir / "config.yaml", 1, port, "--dist-timeout=5"), dir / "rank1.txt");
  // Kill rank 1 in the middle of epoch 2 (after epoch 1's checkpoint).
  std::vector<nlohmann::json> log;
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline && log.empty()) {
    if (fs::exists(dir / "run/checkpoint.pt")) log = read_log(dir / "run/log.jsonl");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(log.empty()) << slurp(dir / "rank0.txt") << slurp(dir / "rank1.txt");
  std::this_thread::sleep_for(std::chrono::duration<double>(0.4 * log.front().at("train_seconds").get<double>()));
  ASSERT_EQ(kill(r1, SIGKILL), 0);
  const auto killed = Clock::now();
  EXPECT_EQ(wait_until(r1, killed + std::chrono::seconds(10)), 128 + SIGKILL);
  const int code = wait_until(r0, killed + std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  const std::string out0 = slurp(dir / "rank0.txt");
  ASSERT_EQ(code, 1) << out0;
  EXPECT_LT(seconds, 5.0 + 3.0) << "rank 0 took longer than --dist-timeout to notice";
  EXPECT_NE(out0.find("medseg: error: distributed training, rank 0 of 2:"), std::string::npos) << out0;
  EXPECT_LT(read_log(dir / "run/log.jsonl").size(), 4u);

  // Same run, one process now: it continues from rank 0's checkpoint.
  const Result resumed = medseg("train --resume " + quoted(dir / "config.yaml"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed after epoch"), std::string::npos) << resumed.out;
  const auto final_log = read_log(dir / "run/log.jsonl");
  ASSERT_EQ(final_log.size(), 4u);
  EXPECT_EQ(final_log.front().at("world_size"), 2);
  EXPECT_FALSE(final_log.back().contains("world_size"));
}

TEST(DistributedTrainCli, TorchrunLaunchesTheRanks) {
  const char* python = "/usr/bin/python3";
  if (run(std::string(python) + " -c 'import torch.distributed.run'").exit_code != 0) {
    FAIL() << "python3-torch (torchrun) is missing: scripts/setup.sh installs it";
  }
  CliTempDir dir;
  write_text(dir / "config.yaml", tiny_config(1, 2));
  // -r 1 -t 1: torchrun's Python 3.11 build crashes without redirected output.
  const Result r = run("cd " + quoted(dir.path()) + " && timeout 180 " + python +
                       " -m torch.distributed.run --no_python --nnodes 1 --nproc_per_node 2 --master_addr 127.0.0.1"
                       " --master_port " + std::to_string(free_port()) + " --log_dir " + quoted(dir / "logs") +
                       " --monitor_interval 0.5 -r 1 -t 1 '" MEDSEG_BINARY "' train --dist-timeout 60 " + quoted(dir / "config.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto log = read_log(dir / "run/log.jsonl");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("world_size"), 2);
  EXPECT_TRUE(fs::exists(dir / "run/model_last/weights.pt"));
}

// Open MPI's mpirun starts the ranks: they find their rank and world size in
// OMPI_COMM_WORLD_* and meet at MASTER_ADDR/MASTER_PORT.
TEST(DistributedTrainCli, MpirunLaunchesTheRanks) {
  ASSERT_EQ(run("command -v mpirun").exit_code, 0) << "mpirun is missing: scripts/setup.sh installs openmpi-bin";
  CliTempDir dir;
  write_text(dir / "config.yaml", tiny_config(1, 2));
  // --allow-run-as-root: CI runs as root; --oversubscribe: 2 ranks even where
  // Open MPI counts fewer slots.
  const Result r = run("cd " + quoted(dir.path()) + " && timeout 180 mpirun --allow-run-as-root --oversubscribe -np 2"
                       " -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=" + std::to_string(free_port()) +
                       " '" MEDSEG_BINARY "' train --dist-timeout 60 " + quoted(dir / "config.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 ranks (global batch 4"), std::string::npos) << r.out;
  const auto log = read_log(dir / "run/log.jsonl");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("world_size"), 2);
  EXPECT_TRUE(fs::exists(dir / "run/model_last/weights.pt"));
}

}  // namespace
