// What first touching fresh memory costs on this machine: 314 MB (one
// float32 copy of a 512x512x300 CT) mapped afresh and written once per
// iteration, in 4 KiB pages vs 2 MiB transparent huge pages (MADV_HUGEPAGE),
// and the same write into memory already touched. See docs/performance.md
// ("End-to-end time and peak memory") and models/allocator.h.
//   build/release/bench/medseg_bench_first_touch
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>

namespace {

constexpr std::size_t kBytes = std::size_t{314} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

void BM_FirstTouch(benchmark::State& state) {
  const bool huge = state.range(0) != 0;
  for (auto _ : state) {
    void* raw = mmap(nullptr, kBytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      return;
    }
    auto* block = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kHugePage - 1) & ~(kHugePage - 1));
    if (huge) madvise(block, kBytes, MADV_HUGEPAGE);
    std::memset(block, 1, kBytes);
    benchmark::DoNotOptimize(block);
    state.PauseTiming();
    munmap(raw, kBytes + kHugePage);
    state.ResumeTiming();
  }
  state.SetLabel(huge ? "2 MiB pages (MADV_HUGEPAGE)" : "4 KiB pages");
}
BENCHMARK(BM_FirstTouch)->Arg(0)->Arg(1)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RewriteTouchedMemory(benchmark::State& state) {
  void* block = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  std::memset(block, 1, kBytes);
  for (auto _ : state) {
    std::memset(block, 2, kBytes);
    benchmark::DoNotOptimize(block);
  }
  munmap(block, kBytes);
}
BENCHMARK(BM_RewriteTouchedMemory)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
