// Whole-volume steps of medseg-gui's Qt-free layer on a 512 x 512 x 300 CT
// (float32 scan, int16 labels), the ones a user waits for:
//   OpenSession:    ScanSession construction (label copy, statistics, auto
//                   window from the 0.5-99.5 percentiles)
//   ReplaceAndUndo: an AI result replacing the label map as one sparse undo
//                   step, then undone (statistics updated both times)
//   RemoveIslands:  3D islands below 1 mL removed (6-connectivity)
//   BrushStroke:    one 10-point drag with a 5 mm brush, statistics update
// Tensors are allocated as in `medseg` (models/allocator.h).
//   build/release/bench/medseg_bench_gui_edit
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstdint>

#include "app/gui/logic/scan_session.h"
#include "bench/bench_main.h"
#include "models/allocator.h"

namespace {
using namespace medseg::gui;

medseg::pipeline::Volume large_scan() {
  medseg::pipeline::Volume v;
  v.geometry.size = {512, 512, 300};
  v.geometry.spacing = {0.78, 0.78, 1.0};
  at::manual_seed(1);
  v.data = (at::randn({300, 512, 512}) * 600.0f + 100.0f).contiguous();
  return v;
}

// A ball of label 1 (radius 100 voxels, ~4.2 M voxels) with a ball of label
// 2 inside, plus ~0.1 % scattered single voxels of label 3 (islands).
at::Tensor large_labels(float radius) {
  const at::Tensor k = at::arange(300, at::kFloat).view({300, 1, 1}) - 150;
  const at::Tensor j = at::arange(512, at::kFloat).view({1, 512, 1}) - 256;
  const at::Tensor i = at::arange(512, at::kFloat).view({1, 1, 512}) - 256;
  const at::Tensor r2 = k * k + j * j + i * i;
  at::Tensor labels = (r2 < radius * radius).to(at::kShort) + (r2 < radius * radius / 4).to(at::kShort);
  labels.masked_fill_(at::rand({300, 512, 512}) < 0.001, 3);
  return labels.contiguous();
}

void BM_OpenSession(benchmark::State& state) {
  const medseg::pipeline::Volume scan = large_scan();
  const at::Tensor labels = large_labels(100);
  for (auto _ : state) {
    ScanSession session(scan, labels);
    benchmark::DoNotOptimize(session.statistics().size());
  }
}
BENCHMARK(BM_OpenSession)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_ReplaceAndUndo(benchmark::State& state) {
  ScanSession session(large_scan(), large_labels(100));
  const at::Tensor ai = large_labels(110);  // ~1.4 M voxels differ
  std::int64_t changed = 0;
  for (auto _ : state) {
    session.replace_labels(ai);
    changed = session.editor().history().last_applied()->voxel_count();
    session.undo();
  }
  state.counters["changed_voxels"] = static_cast<double>(changed);
  state.counters["undo_MiB"] = static_cast<double>(session.editor().history().memory_bytes()) / (1 << 20);
}
BENCHMARK(BM_ReplaceAndUndo)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_RemoveIslands(benchmark::State& state) {
  ScanSession session(large_scan(), large_labels(100));
  std::int64_t removed = 0;
  for (auto _ : state) {
    removed = session.remove_islands(1.0, Connectivity::kFaces6);
    state.PauseTiming();
    session.undo();
    state.ResumeTiming();
  }
  state.counters["removed_voxels"] = static_cast<double>(removed);
}
BENCHMARK(BM_RemoveIslands)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_BrushStroke(benchmark::State& state) {
  ScanSession session(large_scan(), large_labels(100));
  BrushOptions b;
  b.radius_mm = 5.0;
  b.label = 4;
  double shift = 0;
  for (auto _ : state) {
    session.begin_stroke(ViewKind::kAxial, b);
    for (int p = 0; p < 10; ++p) session.paint_at(100 + shift + 8 * p, 200 + 3 * p);
    session.end_stroke();
    shift = shift > 200 ? 0 : shift + 1;
  }
}
BENCHMARK(BM_BrushStroke)->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return medseg::bench::run_benchmarks(argc, argv); }
