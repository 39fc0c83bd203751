// Load + preprocess time and peak memory: the CT sample, and a 512x512x300
// synthetic CT. Run one benchmark per process for a clean memory figure:
//   build/release/bench/medseg_bench_preprocess --benchmark_filter=Sample
//   build/release/bench/medseg_bench_preprocess --benchmark_filter=Large
// Memory is allocated as in `medseg` (models/allocator.h); --plain_malloc
// keeps glibc's and LibTorch's defaults instead, to see what that setup buys.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>

#include "bench/bench_main.h"
#include "bench/peak_memory.h"
#include "models/allocator.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/preprocess/preprocessor.h"
#include "pipeline/preprocess/resample.h"

namespace {
namespace fs = std::filesystem;
using namespace medseg::pipeline;

PreprocessingPlan ct_plan(std::array<double, 3> spacing) {
  PreprocessingPlan p;
  p.orientation = "RAS";
  p.target_spacing = spacing;
  NormalizationRecipe r;
  r.kind = NormalizationKind::kCt;
  r.stats = {40.0, 80.0, -1024.0, 3000.0, 45.0, -100.0, 1200.0};
  p.normalization = {r};
  return p;
}

void run(benchmark::State& state, const fs::path& file, const PreprocessingPlan& plan) {
  at::set_num_threads(2);
  const Preprocessor pre(plan);
  double peak = 0.0;
  std::int64_t voxels = 0;
  for (auto _ : state) {
    medseg::bench::reset_peak_rss();
    const Volume v = read_volume(file);
    const PreprocessedCase c = pre({v});
    benchmark::DoNotOptimize(c.image.data.data_ptr());
    voxels = v.geometry.num_voxels();
    peak = std::max(peak, medseg::bench::peak_rss_mib());
  }
  state.counters["peak_rss_MiB"] = peak;
  state.counters["input_voxels"] = static_cast<double>(voxels);
  state.counters["Mvoxel/s"] = benchmark::Counter(static_cast<double>(voxels) * 1e-6,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LoadPreprocess_CtSample(benchmark::State& state) {
  run(state, fs::path(MEDSEG_SOURCE_DIR) / "data_samples/ct/head_ct.nii.gz", ct_plan({1.5, 1.5, 1.5}));
}
BENCHMARK(BM_LoadPreprocess_CtSample)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

// A body-like 512 x 512 x 300 CT at 0.78 x 0.78 x 1.0 mm (int16 HU, gzip'd
// NIfTI), resampled to 1 mm isotropic.
fs::path large_ct() {
  const fs::path file = fs::temp_directory_path() / "medseg_bench_ct_512x512x300.nii.gz";
  if (fs::exists(file)) return file;
  Volume v;
  v.geometry.size = {512, 512, 300};
  v.geometry.spacing = {0.78, 0.78, 1.0};
  const at::Tensor y = at::linspace(-1, 1, 512).view({1, 512, 1});
  const at::Tensor x = at::linspace(-1, 1, 512).view({1, 1, 512});
  const at::Tensor z = at::linspace(-1, 1, 300).view({300, 1, 1});
  const at::Tensor r = (x / 0.8).pow(2) + (y / 0.6).pow(2) + 0.0 * z;
  at::Tensor hu = at::full({300, 512, 512}, -1000.0f);
  hu = at::where(r < 1.0, at::full_like(hu, 40.0f), hu);
  hu = at::where((r > 0.85) & (r < 1.0), at::full_like(hu, 700.0f), hu);
  hu = hu + 20.0f * at::randn(hu.sizes(), at::detail::getDefaultCPUGenerator());
  v.data = hu;
  write_volume(v, file, PixelType::kInt16);
  return file;
}

void BM_LoadPreprocess_LargeCt512x512x300(benchmark::State& state) {
  run(state, large_ct(), ct_plan({1.0, 1.0, 1.0}));
}
BENCHMARK(BM_LoadPreprocess_LargeCt512x512x300)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

// Where the time goes on the large CT: each stage timed on its own.
void BM_LargeCtStage(benchmark::State& state) {
  at::set_num_threads(2);
  const int stage = static_cast<int>(state.range(0));
  const fs::path file = large_ct();
  const Volume input = read_volume(file);
  const PreprocessingPlan plan = ct_plan({1.0, 1.0, 1.0});
  NormalizationRecipe none;
  none.kind = NormalizationKind::kNone;
  const Preprocessor reorient_only(PreprocessingPlan{"RAS", false, {0, 0, 0}, Interpolation::kLinear,
                                                     LabelInterpolation::kPerLabelLinear, {none}});
  for (auto _ : state) {
    switch (stage) {
      case 0: benchmark::DoNotOptimize(read_volume(file).data.data_ptr()); break;
      case 1: benchmark::DoNotOptimize(reorient_only({input}).image.data.data_ptr());
        break;
      case 2: benchmark::DoNotOptimize(Normalize(plan.normalization[0])(input).data.data_ptr()); break;
      case 3: benchmark::DoNotOptimize(ResampleToSpacing({1.0, 1.0, 1.0})(input, VolumeKind::kImage).data.data_ptr()); break;
    }
  }
  static const char* kNames[] = {"read", "reorient+stack", "normalize_ct", "resample_linear_1mm"};
  state.SetLabel(kNames[stage]);
}
BENCHMARK(BM_LargeCtStage)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return medseg::bench::run_benchmarks(argc, argv); }
