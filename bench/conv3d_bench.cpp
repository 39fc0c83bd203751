// Raw Conv3d throughput (16 -> 16 channels, 3x3x3, 96^3 voxels) in float32
// and bfloat16 at 2 threads: the ceiling every network figure is read against.
//   build/release/bench/medseg_bench_conv3d
#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

void BM_Conv3d(benchmark::State& state, torch::Dtype dtype) {
  at::set_num_threads(2);
  torch::NoGradGuard no_grad;
  const int64_t channels = 16, size = 96;
  auto conv = torch::nn::Conv3d(torch::nn::Conv3dOptions(channels, channels, 3).padding(1));
  conv->to(dtype);
  const auto x = torch::randn({1, channels, size, size, size}).to(dtype);
  for (auto _ : state) {
    auto y = conv->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const double flops = 2.0 * channels * channels * 27 * size * size * size;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_Conv3d, float32, torch::kFloat32)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv3d, bfloat16, torch::kBFloat16)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
