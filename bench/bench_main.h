#pragma once
// The main() of medseg's Google Benchmark programs that allocate as medseg
// does: freed memory reused and large tensors in cached huge pages
// (models/allocator.h), unless --plain_malloc asks for glibc's and
// LibTorch's defaults instead (to measure what the allocator buys).
#include <benchmark/benchmark.h>

#include <cstring>

#include "models/allocator.h"

namespace medseg::bench {

inline int run_benchmarks(int argc, char** argv) {
  bool plain_malloc = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--plain_malloc") == 0) {
      plain_malloc = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (!plain_malloc) {
    models::reuse_freed_memory();
    models::use_huge_page_tensor_allocator();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace medseg::bench
