// Time to draw one slice of a 512 x 512 x 300 float32 CT in each view of
// medseg-gui's Qt-free layer (goal: <= 15 ms per view incl. overlay):
//   ExtractWindow: SliceGeometry::extract_slice + WindowLevel::map to 8 bit
//   Render:        SliceRenderer::render, i.e. the above plus extracting the
//                  int16 label slice and blending label colours (RGB32)
// for a volume stored axially (LPS, the usual CT) and sagittally (AIL: i ->
// A, j -> I, k -> L, the worst case for the axial view). Each iteration
// draws the next slice (as when scrolling), so caches are not warm.
// Tensors are allocated as in `medseg` (models/allocator.h: 2 MiB pages for
// large tensors); --plain_malloc keeps glibc's and LibTorch's defaults, where
// the strided views pay a TLB miss every second voxel.
//   build/release/bench/medseg_bench_gui_slice [--plain_malloc]
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "bench/bench_main.h"
#include "app/gui/logic/slice_geometry.h"
#include "app/gui/logic/slice_renderer.h"
#include "app/gui/logic/window_level.h"
#include "models/allocator.h"

namespace {
using namespace medseg::gui;

struct LargeScan {
  medseg::pipeline::Geometry geometry;
  at::Tensor scan;    // float32 (300, 512, 512)
  at::Tensor labels;  // int16, two labels on ~10% of the voxels
};

const LargeScan& large_scan(bool sagittal_stored) {
  static LargeScan cache[2];
  LargeScan& s = cache[sagittal_stored ? 1 : 0];
  if (s.scan.defined()) return s;
  s.geometry.size = {512, 512, 300};
  s.geometry.spacing = {0.78, 0.78, 1.0};
  if (sagittal_stored) s.geometry.direction = {0, 0, 1, -1, 0, 0, 0, -1, 0};
  at::manual_seed(1);
  // HU-like values: air, soft tissue and bone in noise, so that the window
  // clamps at both ends as on a real CT.
  s.scan = (at::randn({300, 512, 512}) * 600.0f + 100.0f).contiguous();
  const at::Tensor k = at::arange(300, at::kFloat).view({300, 1, 1}) - 150;
  const at::Tensor j = at::arange(512, at::kFloat).view({1, 512, 1}) - 256;
  const at::Tensor i = at::arange(512, at::kFloat).view({1, 1, 512}) - 256;
  const at::Tensor r2 = k * k + j * j + i * i;
  s.labels = (r2 < 100.0f * 100.0f).to(at::kShort) + (r2 < 50.0f * 50.0f).to(at::kShort);
  return s;
}

ViewKind view_of(std::int64_t n) { return static_cast<ViewKind>(n); }

void set_label(benchmark::State& state) {
  state.SetLabel(std::string(view_name(view_of(state.range(0)))) + (state.range(1) ? " sagittal-stored" : " axial-stored"));
}

void BM_ExtractWindow(benchmark::State& state) {
  const LargeScan& s = large_scan(state.range(1) != 0);
  const SliceGeometry g(s.geometry);
  const ViewKind kind = view_of(state.range(0));
  const ViewMapping& m = g.view(kind);
  const auto n = static_cast<std::size_t>(m.width * m.height);
  std::vector<float> slice(n);
  std::vector<std::uint8_t> grey(n);
  const WindowLevel window = ct_window_preset("soft tissue").window();
  std::int64_t next = 0;
  for (auto _ : state) {
    g.extract_slice(kind, next, s.scan.data_ptr<float>(), slice.data());
    window.map(slice.data(), static_cast<std::int64_t>(n), grey.data());
    benchmark::DoNotOptimize(grey.data());
    next = (next + 1) % m.slice_count;
  }
  state.counters["pixels"] = static_cast<double>(n);
  set_label(state);
}

void BM_Render(benchmark::State& state) {
  const LargeScan& s = large_scan(state.range(1) != 0);
  const SliceGeometry g(s.geometry);
  const ViewKind kind = view_of(state.range(0));
  const ViewMapping& m = g.view(kind);
  std::vector<std::uint32_t> out(static_cast<std::size_t>(m.width * m.height));
  const LabelOverlay overlay({default_label_description(1), default_label_description(2)}, 0.5);
  const WindowLevel window = ct_window_preset("soft tissue").window();
  SliceRenderer renderer;
  std::int64_t next = 0;
  for (auto _ : state) {
    renderer.render(g, kind, next, s.scan.data_ptr<float>(), s.labels.data_ptr<std::int16_t>(), window, overlay,
                    out.data());
    benchmark::DoNotOptimize(out.data());
    next = (next + 1) % m.slice_count;
  }
  state.counters["pixels"] = static_cast<double>(out.size());
  set_label(state);
}

void views(benchmark::internal::Benchmark* b) {
  for (int storage : {0, 1}) {
    for (int view : {0, 1, 2}) b->Args({view, storage});
  }
}

BENCHMARK(BM_ExtractWindow)->Apply(views)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_Render)->Apply(views)->Unit(benchmark::kMillisecond)->MinTime(0.5);

}  // namespace

int main(int argc, char** argv) { return medseg::bench::run_benchmarks(argc, argv); }
