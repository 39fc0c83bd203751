// Data-parallel training across real processes joined over Gloo on
// 127.0.0.1 (distributed_worker, one per rank), against the same
// computation in one process on the whole batch: synchronized batch norm
// forward/backward, and several training steps with averaged gradients,
// with domains split unevenly between the ranks and absent on one of them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "models/domain_batch_norm.h"
#include "tests/common/temp_dir.h"
#include "tests/pipeline/train/distributed_fixture.h"

namespace medseg::test::distributed {
namespace {

namespace fs = std::filesystem;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Ranks {
  int exit_code[kRanks] = {-1, -1};
  std::string err[kRanks];
  std::vector<torch::Tensor> out[kRanks];
  double seconds[kRanks] = {0.0, 0.0};  ///< each rank's own run time
};

// Both ranks at once, each bounded by `timeout` (coreutils) so that a bug
// never hangs the suite.
Ranks run_ranks(const std::string& mode, const fs::path& dir, double dist_timeout = 60.0) {
  const int port = free_port();
  std::string command;
  for (int r = 0; r < kRanks; ++r) {
    const auto base = (dir / (mode + std::to_string(r))).string();
    command += "(start=$(date +%s%N); timeout 120 '" DISTRIBUTED_WORKER "' " + mode + " " + std::to_string(r) +
               " " + std::to_string(port) + " '" + base + ".pt' " + std::to_string(dist_timeout) + " 2> '" + base +
               ".err'; echo $? > '" + base + ".rc'; echo $(( $(date +%s%N) - start )) > '" + base + ".ns') & ";
  }
  command += "wait";
  EXPECT_EQ(std::system(command.c_str()), 0);
  Ranks ranks;
  for (int r = 0; r < kRanks; ++r) {
    const auto base = dir / (mode + std::to_string(r));
    ranks.exit_code[r] = std::stoi("0" + slurp(base.string() + ".rc"));
    ranks.err[r] = slurp(base.string() + ".err");
    ranks.seconds[r] = std::stod("0" + slurp(base.string() + ".ns")) * 1e-9;
    if (ranks.exit_code[r] == 0 && fs::exists(base.string() + ".pt")) torch::load(ranks.out[r], base.string() + ".pt");
  }
  return ranks;
}

::testing::AssertionResult close(const torch::Tensor& a, const torch::Tensor& b, double tol) {
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shapes " << a.sizes() << " vs " << b.sizes();
  const double diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  const double scale = std::max(1.0, b.abs().max().item<double>());
  if (diff <= tol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << diff << " (scale " << scale << ")";
}

TEST(DistributedTraining, SyncBatchNormOverTwoProcessesMatchesOneLayerOnTheWholeBatch) {
  TempDir dir;
  const Ranks ranks = run_ranks("syncbn", dir.path());
  for (int r = 0; r < kRanks; ++r) ASSERT_EQ(ranks.exit_code[r], 0) << "rank " << r << ": " << ranks.err[r];

  torch::manual_seed(5);
  models::DomainBatchNorm bn(models::DomainBatchNormOptions(kBnChannels).num_domains(2));
  {
    torch::NoGradGuard no_grad;
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.uniform_(-0.5, 0.5);
  }
  for (std::int64_t pass = 0; pass < 2; ++pass) {
    const BnInput in = bn_input(pass);
    const torch::Tensor x = in.x.clone().requires_grad_(true);
    bn->zero_grad();
    const torch::Tensor y = bn(x, in.domains);
    (y * in.dy).sum().backward();
    const std::size_t at = static_cast<std::size_t>(4 * pass);
    for (int r = 0; r < kRanks; ++r) {
      const auto rows = [&](const torch::Tensor& t) { return t.narrow(0, bn_first_row(r), bn_rows(r)); };
      EXPECT_TRUE(close(ranks.out[r][at], rows(y.detach()), 1e-5)) << "output, pass " << pass << ", rank " << r;
      EXPECT_TRUE(close(ranks.out[r][at + 1], rows(x.grad()), 1e-5)) << "input gradient, pass " << pass << ", rank " << r;
    }
    // γ/β gradients are sums over each rank's rows: the ranks' add up.
    EXPECT_TRUE(close(ranks.out[0][at + 2] + ranks.out[1][at + 2], bn->weight.grad(), 1e-5)) << "γ, pass " << pass;
    EXPECT_TRUE(close(ranks.out[0][at + 3] + ranks.out[1][at + 3], bn->bias.grad(), 1e-5)) << "β, pass " << pass;
  }
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_TRUE(close(ranks.out[r][8], bn->running_mean, 1e-5)) << "running_mean, rank " << r;
    EXPECT_TRUE(close(ranks.out[r][9], bn->running_var, 1e-5)) << "running_var, rank " << r;
    EXPECT_TRUE(torch::equal(ranks.out[r][10], bn->num_batches_tracked)) << "num_batches_tracked, rank " << r;
  }
}

TEST(DistributedTraining, TwoRanksWithBatchBEqualOneProcessWithBatch2B) {
  TempDir dir;
  const Ranks ranks = run_ranks("steps", dir.path());
  for (int r = 0; r < kRanks; ++r) ASSERT_EQ(ranks.exit_code[r], 0) << "rank " << r << ": " << ranks.err[r];

  auto net = make_model();
  auto optimizer = make_optimizer(net);
  train_steps(net, optimizer, nullptr, 0, kRanks * kBatchPerRank);
  const auto reference = state_of(net);
  const auto initial = state_of(make_model());
  ASSERT_EQ(ranks.out[0].size(), reference.size());
  std::size_t moved = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    for (int r = 0; r < kRanks; ++r) {
      EXPECT_TRUE(close(ranks.out[r][i], reference[i], 1e-4)) << "tensor " << i << " (of "
          << net->parameters().size() << " parameters, then buffers), rank " << r;
    }
    moved += torch::equal(reference[i], initial[i]) ? 0 : 1;
  }
  // The comparison means something only if training moved the state.
  EXPECT_GT(moved, reference.size() / 2);
}

// sync_batch_norm: false. The reference is two replicas in this process,
// each normalizing its own rows, whose gradients are averaged by hand before
// each step: parameters stay equal on both ranks, batch-norm running
// statistics stay each rank's own.
TEST(DistributedTraining, UnsyncedRanksAverageGradientsButKeepTheirOwnStatistics) {
  TempDir dir;
  const Ranks ranks = run_ranks("steps_local", dir.path());
  for (int r = 0; r < kRanks; ++r) ASSERT_EQ(ranks.exit_code[r], 0) << "rank " << r << ": " << ranks.err[r];

  std::vector<models::UNet3d> nets{make_model(), make_model()};
  torch::optim::SGD sgd0 = make_optimizer(nets[0]), sgd1 = make_optimizer(nets[1]);
  torch::optim::SGD* optimizers[kRanks] = {&sgd0, &sgd1};
  for (std::int64_t step = 0; step < kSteps; ++step) {
    const GlobalBatch b = global_batch(step);
    for (int r = 0; r < kRanks; ++r) {
      optimizers[r]->zero_grad();
      const auto rows = [&](const torch::Tensor& t) { return t.narrow(0, r * kBatchPerRank, kBatchPerRank); };
      models::deep_supervision_loss(nets[r]->forward_all(rows(b.image), rows(b.domains)), rows(b.labels)).backward();
    }
    const auto p0 = nets[0]->parameters(), p1 = nets[1]->parameters();
    for (std::size_t i = 0; i < p0.size(); ++i) {
      if (!p0[i].grad().defined()) continue;
      const torch::Tensor mean = (p0[i].grad() + p1[i].grad()) / 2;
      p0[i].mutable_grad() = mean.clone();
      p1[i].mutable_grad() = mean.clone();
    }
    for (auto* o : optimizers) o->step();
  }
  const std::size_t parameters = nets[0]->parameters().size();
  const auto state0 = state_of(nets[0]), state1 = state_of(nets[1]);
  const auto synced = state_of([] {
    auto net = make_model();
    auto optimizer = make_optimizer(net);
    train_steps(net, optimizer, nullptr, 0, kRanks * kBatchPerRank);
    return net;
  }());
  std::size_t local_buffers = 0;
  for (std::size_t i = 0; i < state0.size(); ++i) {
    EXPECT_TRUE(close(ranks.out[0][i], state0[i], 1e-4)) << "tensor " << i << ", rank 0";
    EXPECT_TRUE(close(ranks.out[1][i], state1[i], 1e-4)) << "tensor " << i << ", rank 1";
    if (i >= parameters && !torch::equal(state0[i], state1[i])) ++local_buffers;
  }
  // Statistics really differ between the ranks, and from synchronized ones.
  EXPECT_GT(local_buffers, 0u);
  EXPECT_FALSE(close(ranks.out[0][parameters], synced[parameters], 1e-4));
}

TEST(DistributedTraining, ARankThatHangsStopsItsPeerWithinTheTimeout) {
  TempDir dir;
  // The timeout also bounds joining the group, so it must outlast the two
  // processes' start-up (loading LibTorch took over 2 s on a loaded CI
  // machine, and the join then failed before any all-reduce).
  const Ranks ranks = run_ranks("hang", dir.path(), /*dist_timeout=*/6.0);
  EXPECT_EQ(ranks.exit_code[0], 1) << ranks.err[0];
  EXPECT_NE(ranks.err[0].find("rank 0 of 2: all-reduce of the gradients failed"), std::string::npos) << ranks.err[0];
  EXPECT_NE(ranks.err[0].find("--dist-timeout 6 s"), std::string::npos) << ranks.err[0];
  EXPECT_EQ(std::count(ranks.err[0].begin(), ranks.err[0].end(), '\n'), 1) << ranks.err[0];
  // Rank 1 stays silent for 15 s after joining; rank 0's all-reduce gives up
  // after its 6 s.
  const double waited = std::stod("0" + slurp(dir / "hang0.pt.seconds"));
  EXPECT_GT(waited, 5.5);
  EXPECT_LT(waited, 11.0);
  EXPECT_GT(ranks.seconds[1], 14.5);
}

}  // namespace
}  // namespace medseg::test::distributed
