// The reduction hook: what passes through it, and that an all-reduce behind
// it turns DomainBatchNorm into synchronized batch norm. Two "processes" are
// simulated by two threads sharing an in-process all-reduce; the reference is
// one torch::nn::BatchNorm3d over the whole batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "models/batch_stats_reduction.h"
#include "models/domain_batch_norm.h"
#include "core/error.h"
#include "tests/models/tensor_expect.h"

namespace medseg::models {
namespace {

using testing::all_close;
using testing::throws_with;
using torch::Tensor;

constexpr double kTol = 1e-5;

// Sums tensors across `participants` threads (what Gloo's allreduce does
// across processes).
class InProcessAllReduce {
 public:
  explicit InProcessAllReduce(int participants) : participants_(participants) {}

  void sum(Tensor& tensor) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    accumulator_ = arrived_ == 0 ? tensor.clone() : accumulator_ + tensor;
    if (++arrived_ == participants_) {
      result_ = accumulator_;
      arrived_ = 0;
      ++generation_;
      ++calls_;
      done_.notify_all();
    } else {
      done_.wait(lock, [&] { return generation_ != generation; });
    }
    tensor.copy_(result_);
  }

  int64_t calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  const int participants_;
  mutable std::mutex mutex_;
  std::condition_variable done_;
  int arrived_ = 0;
  int64_t generation_ = 0;
  int64_t calls_ = 0;
  Tensor accumulator_;
  Tensor result_;
};

class ThreadReduction final : public SumBatchStatsReduction {
 public:
  explicit ThreadReduction(std::shared_ptr<InProcessAllReduce> hub) : hub_(std::move(hub)) {}

 protected:
  void all_reduce_sum(Tensor& packed) override { hub_->sum(packed); }

 private:
  std::shared_ptr<InProcessAllReduce> hub_;
};

// Records what passes through, and hands back "another participant's"
// contribution added on (a fixed multiple of the local one).
class ScalingReduction final : public SumBatchStatsReduction {
 public:
  std::vector<Tensor> seen;

 protected:
  void all_reduce_sum(Tensor& packed) override {
    seen.push_back(packed.clone());
    packed.mul_(2.0);
  }
};

TEST(BatchStatsReduction, ForwardAndBackwardSumsPassThroughInADocumentedLayout) {
  torch::manual_seed(31);
  auto reduction = std::make_shared<ScalingReduction>();
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2));
  bn->set_reduction(reduction);
  const Tensor x = (torch::randn({3, 2, 2, 2, 2}) * 2 + 3).requires_grad_(true);
  const Tensor ids = torch::tensor({1, 0, 1}, torch::kLong);
  const Tensor y = bn(x, ids);
  ASSERT_EQ(reduction->seen.size(), 1U);
  const Tensor fwd = reduction->seen[0];
  ASSERT_EQ(fwd.sizes(), (std::vector<int64_t>{2, 5}));  // (K, 2C + 1)
  EXPECT_EQ(fwd.scalar_type(), torch::kDouble);
  const Tensor xd = x.detach().to(torch::kDouble);
  for (int64_t k = 0; k < 2; ++k) {
    const Tensor rows = k == 0 ? torch::tensor({1}, torch::kLong) : torch::tensor({0, 2}, torch::kLong);
    const Tensor values = xd.index_select(0, rows).transpose(0, 1).reshape({2, -1});
    // float32 data: the sums carry float32 rounding of per-sample means.
    EXPECT_TRUE(all_close(fwd[k].slice(0, 0, 2), values.sum(1), 1e-6, 1e-6)) << "sum, domain " << k;
    EXPECT_TRUE(all_close(fwd[k].slice(0, 2, 4), values.pow(2).sum(1), 1e-6, 1e-6)) << "sum_sq, domain " << k;
    EXPECT_DOUBLE_EQ(fwd[k][4].item<double>(), static_cast<double>(values.size(1))) << "count, domain " << k;
  }
  // Doubling every sum (a second participant with identical data) leaves
  // mean and variance as they are: the output equals the local one.
  DomainBatchNorm local(DomainBatchNormOptions(2).num_domains(2));
  EXPECT_TRUE(all_close(y, local(x.detach(), ids), kTol, kTol));
  // …but the unbiased correction uses the global count.
  const Tensor values1 = xd.index_select(0, torch::tensor({0, 2}, torch::kLong)).transpose(0, 1).reshape({2, -1});
  const double n = 2.0 * static_cast<double>(values1.size(1));  // global count of domain 1
  EXPECT_TRUE(all_close(bn->running_var[1], 0.9 + 0.1 * values1.var(1, false) * n / (n - 1), kTol, kTol));

  const Tensor g = torch::randn_like(y);
  (y * g).sum().backward();
  ASSERT_EQ(reduction->seen.size(), 2U);
  const Tensor bwd = reduction->seen[1];
  ASSERT_EQ(bwd.sizes(), (std::vector<int64_t>{2, 4}));  // (K, 2C)
  const Tensor gd = g.to(torch::kDouble);
  const Tensor rows1 = torch::tensor({0, 2}, torch::kLong);
  EXPECT_TRUE(all_close(bwd[1].slice(0, 0, 2),
                        gd.index_select(0, rows1).transpose(0, 1).reshape({2, -1}).sum(1), 1e-6, 1e-6));
  // With doubled gradient sums the input gradient matches a single layer
  // whose batch holds the same data twice.
  const Tensor twice = torch::cat({x.detach(), x.detach()}, 0).requires_grad_(true);
  DomainBatchNorm big(DomainBatchNormOptions(2).num_domains(2));
  const Tensor ids2 = torch::cat({ids, ids});
  (big(twice, ids2) * torch::cat({g, g})).sum().backward();
  EXPECT_TRUE(all_close(x.grad(), twice.grad().slice(0, 0, 3), kTol, kTol));
}

TEST(BatchStatsReduction, TwoProcessesMatchOneBatchNorm3dOverTheWholeBatch) {
  constexpr int64_t kC = 3;
  torch::manual_seed(32);
  torch::nn::BatchNorm3d ref(kC);
  {
    torch::NoGradGuard no_grad;
    ref->weight.uniform_(0.5, 1.5);
    ref->bias.uniform_(-0.5, 0.5);
  }
  auto hub = std::make_shared<InProcessAllReduce>(2);
  std::vector<DomainBatchNorm> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back(kC);
    ranks[r]->set_reduction(std::make_shared<ThreadReduction>(hub));
    torch::NoGradGuard no_grad;
    ranks[r]->weight.copy_(ref->weight);
    ranks[r]->bias.copy_(ref->bias);
  }
  for (int step = 0; step < 3; ++step) {
    const Tensor x = torch::randn({5, kC, 2, 3, 2}) * (1 + step) + step;
    const Tensor g = torch::randn_like(x);
    const Tensor xr = x.clone().requires_grad_(true);
    const Tensor yr = ref(xr);
    (yr * g).sum().backward();
    // Unequal shards: rank 0 gets samples 0..1, rank 1 gets 2..4.
    const std::vector<std::pair<int64_t, int64_t>> shards = {{0, 2}, {2, 3}};
    std::vector<Tensor> xs(2);
    std::vector<Tensor> ys(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r) {
      threads.emplace_back([&, r] {
        xs[r] = x.narrow(0, shards[r].first, shards[r].second).clone().requires_grad_(true);
        ys[r] = ranks[r]->forward(xs[r]);
        (ys[r] * g.narrow(0, shards[r].first, shards[r].second)).sum().backward();
      });
    }
    for (auto& t : threads) t.join();
    const std::string what = "step " + std::to_string(step + 1);
    EXPECT_TRUE(all_close(torch::cat(ys, 0), yr, kTol, kTol)) << what << ": output";
    EXPECT_TRUE(all_close(torch::cat({xs[0].grad(), xs[1].grad()}, 0), xr.grad(), kTol, kTol))
        << what << ": input gradient";
    // Parameter gradients are per-process contributions; data parallelism sums them.
    EXPECT_TRUE(all_close(ranks[0]->weight.grad() + ranks[1]->weight.grad(), ref->weight.grad(), kTol, kTol))
        << what;
    EXPECT_TRUE(all_close(ranks[0]->bias.grad() + ranks[1]->bias.grad(), ref->bias.grad(), kTol, kTol)) << what;
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(all_close(ranks[r]->running_mean, ref->running_mean, kTol, kTol)) << what << " rank " << r;
      EXPECT_TRUE(all_close(ranks[r]->running_var, ref->running_var, kTol, kTol)) << what << " rank " << r;
      ranks[r]->weight.mutable_grad().reset();
      ranks[r]->bias.mutable_grad().reset();
    }
    ref->weight.mutable_grad().reset();
    ref->bias.mutable_grad().reset();
  }
  EXPECT_EQ(hub->calls(), 6);  // one forward and one backward reduction per step
}

TEST(BatchStatsReduction, ADomainAbsentLocallyButPresentElsewhereIsUpdatedEverywhere) {
  constexpr int64_t kC = 2;
  torch::manual_seed(33);
  auto hub = std::make_shared<InProcessAllReduce>(2);
  std::vector<DomainBatchNorm> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back(DomainBatchNormOptions(kC).num_domains(2));
    ranks[r]->set_reduction(std::make_shared<ThreadReduction>(hub));
  }
  DomainBatchNorm whole(DomainBatchNormOptions(kC).num_domains(2));
  const Tensor x = torch::randn({4, kC, 2, 2, 2}) * 3 + 1;
  const Tensor ids = torch::tensor({0, 0, 1, 0}, torch::kLong);  // rank 0: {0, 0}; rank 1: {1, 0}
  const Tensor expected = whole(x, ids);
  std::vector<Tensor> ys(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] { ys[r] = ranks[r]->forward(x.narrow(0, 2 * r, 2), ids.narrow(0, 2 * r, 2)); });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_close(torch::cat(ys, 0), expected, kTol, kTol));
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(all_close(ranks[r]->running_mean, whole->running_mean, kTol, kTol)) << "rank " << r;
    EXPECT_TRUE(all_close(ranks[r]->running_var, whole->running_var, kTol, kTol)) << "rank " << r;
    EXPECT_TRUE(torch::equal(ranks[r]->num_batches_tracked, whole->num_batches_tracked)) << "rank " << r;
  }
}

class BrokenReduction final : public BatchStatsReduction {
 public:
  void reduce(BatchStats& stats) override { stats.count = stats.count.to(torch::kFloat); }
  void reduce(BatchGradStats& /*grads*/) override {}
};

TEST(BatchStatsReduction, AReductionThatChangesShapesOrTypesIsReported) {
  DomainBatchNorm bn(2);
  bn->set_reduction(std::make_shared<BrokenReduction>());
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({2, 2, 2, 2, 2})); },
                                      {"returned count as Float", "expected float64 of shape [1]"}));
  class Truncating final : public SumBatchStatsReduction {
   protected:
    void all_reduce_sum(Tensor& packed) override { packed = packed.narrow(1, 0, 1); }
  };
  bn->set_reduction(std::make_shared<Truncating>());
  EXPECT_TRUE(throws_with<ModelError>([&] { bn(torch::randn({2, 2, 2, 2, 2})); }, {"shape [1, 5]", "[1, 1]"}));
}

TEST(BatchStatsReduction, EvalWithRunningStatisticsDoesNotReduce) {
  auto reduction = std::make_shared<ScalingReduction>();
  DomainBatchNorm bn(DomainBatchNormOptions(2).num_domains(2));
  bn->set_reduction(reduction);
  bn->eval();
  bn(torch::randn({2, 2, 2, 2, 2}), torch::tensor({0, 1}, torch::kLong));
  bn(torch::randn({2, 2, 2, 2, 2}));
  EXPECT_TRUE(reduction->seen.empty());
}

}  // namespace
}  // namespace medseg::models
