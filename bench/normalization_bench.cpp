// Forward + backward of normalization layers on a (2, 32, 64, 64, 64) float32
// batch at 2 intra-op threads: DomainBatchNorm against torch::nn::BatchNorm3d
// (issue targets: one domain <= 1.15x, two domains mixed <= 1.5x), plus the
// alternatives the norm factory offers. Results: docs/normalization.md.
//
//   medseg_bench_normalization --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "models/batch_stats_reduction.h"
#include "models/domain_batch_norm.h"

namespace {

using medseg::models::DomainBatchNorm;
using medseg::models::DomainBatchNormOptions;
using torch::Tensor;

constexpr int64_t kN = 2;
constexpr int64_t kC = 32;
constexpr int64_t kSide = 64;

// One training step of a layer: forward, backward with a fixed upstream
// gradient, gradients cleared (so no accumulation pass is timed).
template <typename Module, typename Forward>
void train_step_loop(benchmark::State& state, Module& module, Forward&& forward) {
  torch::manual_seed(0);
  Tensor x = torch::randn({kN, kC, kSide, kSide, kSide}).requires_grad_(true);
  const Tensor g = torch::randn_like(x);
  for (auto _ : state) {
    const Tensor y = forward(x);
    y.backward(g);
    x.mutable_grad().reset();
    for (auto& p : module->parameters()) p.mutable_grad().reset();
  }
  state.SetItemsProcessed(state.iterations() * x.numel());
}

template <typename Module, typename Forward>
void eval_loop(benchmark::State& state, Module& module, Forward&& forward) {
  torch::manual_seed(0);
  const Tensor x = torch::randn({kN, kC, kSide, kSide, kSide});
  module->eval();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(forward(x));
  state.SetItemsProcessed(state.iterations() * x.numel());
}

// Sample 0 from domain 0, sample 1 from domain 1.
Tensor two_domains() { return torch::tensor({0, 1}, torch::kLong); }

void BM_TorchBatchNorm3d(benchmark::State& state) {
  torch::nn::BatchNorm3d bn(kC);
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_DomainBatchNorm_OneDomain(benchmark::State& state) {
  DomainBatchNorm bn(kC);
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

// One domain through the general path (statistics via the reduction hook),
// as a synchronized layer would run minus the communication.
void BM_DomainBatchNorm_OneDomainReductionHook(benchmark::State& state) {
  DomainBatchNorm bn(kC);
  bn->set_reduction(std::make_shared<medseg::models::LocalBatchStatsReduction>());
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_DomainBatchNorm_TwoDomainsMixed(benchmark::State& state) {
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2));
  const Tensor ids = two_domains();
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x, ids); });
}

void BM_DomainBatchNorm_TwoDomainsMixedDomainAffine(benchmark::State& state) {
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2).domain_affine(true));
  const Tensor ids = two_domains();
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x, ids); });
}

void BM_DomainBatchNorm_Renorm(benchmark::State& state) {
  DomainBatchNorm bn(DomainBatchNormOptions(kC).renorm(true));
  train_step_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_TorchInstanceNorm3d(benchmark::State& state) {
  torch::nn::InstanceNorm3d in(torch::nn::InstanceNorm3dOptions(kC).affine(true));
  train_step_loop(state, in, [&](const Tensor& x) { return in(x); });
}

void BM_TorchGroupNorm8(benchmark::State& state) {
  torch::nn::GroupNorm gn(torch::nn::GroupNormOptions(8, kC));
  train_step_loop(state, gn, [&](const Tensor& x) { return gn(x); });
}

void BM_TorchBatchNorm3d_EvalForward(benchmark::State& state) {
  torch::nn::BatchNorm3d bn(kC);
  eval_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_DomainBatchNorm_TwoDomainsMixed_EvalForward(benchmark::State& state) {
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2));
  const Tensor ids = two_domains();
  eval_loop(state, bn, [&](const Tensor& x) { return bn(x, ids); });
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Paired measurement for the targets: every iteration times one
// torch::nn::BatchNorm3d step and one DomainBatchNorm step back to back (in
// alternating order), so load from other processes on this shared 2-core
// machine hits both alike. Reported time: DomainBatchNorm; counters:
// `ratio` = Σ DomainBatchNorm time / Σ BatchNorm3d time (wall clock),
// `cpu_ratio` = the same for process CPU time (less sensitive to other
// processes), `native_ms` = BatchNorm3d's mean wall time.
template <typename Forward>
void paired_ratio_loop(benchmark::State& state, DomainBatchNorm& bn, Forward&& forward) {
  torch::manual_seed(0);
  torch::nn::BatchNorm3d ref(kC);
  Tensor x = torch::randn({kN, kC, kSide, kSide, kSide}).requires_grad_(true);
  const Tensor g = torch::randn_like(x);
  // Wall time and this process's CPU time (all threads) of one step.
  auto step = [&](auto&& run, torch::nn::Module& module) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_seconds();
    const Tensor y = run(x);
    y.backward(g);
    x.mutable_grad().reset();
    for (auto& p : module.parameters()) p.mutable_grad().reset();
    return std::make_pair(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                          process_cpu_seconds() - cpu_start);
  };
  std::pair<double, double> total_native{0.0, 0.0};
  std::pair<double, double> total_domain{0.0, 0.0};
  bool native_first = true;
  for (auto _ : state) {
    std::pair<double, double> native;
    std::pair<double, double> domain;
    if (native_first) native = step([&](const Tensor& in) { return ref(in); }, *ref);
    domain = step(forward, *bn);
    if (!native_first) native = step([&](const Tensor& in) { return ref(in); }, *ref);
    native_first = !native_first;
    total_native.first += native.first;
    total_native.second += native.second;
    total_domain.first += domain.first;
    total_domain.second += domain.second;
    state.SetIterationTime(domain.first);
  }
  state.counters["ratio"] = total_domain.first / total_native.first;
  state.counters["cpu_ratio"] = total_domain.second / total_native.second;
  state.counters["native_ms"] = 1e3 * total_native.first / static_cast<double>(state.iterations());
}

void BM_Paired_OneDomain(benchmark::State& state) {
  DomainBatchNorm bn(kC);
  paired_ratio_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_Paired_OneDomainReductionHook(benchmark::State& state) {
  DomainBatchNorm bn(kC);
  bn->set_reduction(std::make_shared<medseg::models::LocalBatchStatsReduction>());
  paired_ratio_loop(state, bn, [&](const Tensor& x) { return bn(x); });
}

void BM_Paired_TwoDomainsMixed(benchmark::State& state) {
  DomainBatchNorm bn(DomainBatchNormOptions(kC).num_domains(2));
  const Tensor ids = two_domains();
  paired_ratio_loop(state, bn, [&](const Tensor& x) { return bn(x, ids); });
}

BENCHMARK(BM_Paired_OneDomain)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(3.0);
BENCHMARK(BM_Paired_OneDomainReductionHook)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(3.0);
BENCHMARK(BM_Paired_TwoDomainsMixed)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(3.0);

#define MEDSEG_NORM_BENCH(fn) BENCHMARK(fn)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0)
MEDSEG_NORM_BENCH(BM_TorchBatchNorm3d);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_OneDomain);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_OneDomainReductionHook);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_TwoDomainsMixed);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_TwoDomainsMixedDomainAffine);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_Renorm);
MEDSEG_NORM_BENCH(BM_TorchInstanceNorm3d);
MEDSEG_NORM_BENCH(BM_TorchGroupNorm8);
MEDSEG_NORM_BENCH(BM_TorchBatchNorm3d_EvalForward);
MEDSEG_NORM_BENCH(BM_DomainBatchNorm_TwoDomainsMixed_EvalForward);

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(2);  // this LibTorch build defaults to 1
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
