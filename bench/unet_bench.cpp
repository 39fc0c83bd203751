// The default U-Net (UNet3dOptions(1, 3): base 16, depth 4, batch norm,
// pixel-shuffle up-sampling) on a 1x1x96^3 patch, forward and forward +
// backward, float32 and bfloat16, next to the raw Conv3d 16 -> 16 it is built
// from and the up-sampling candidates for one decoder step (32 -> 16 channels,
// 48^3 -> 96^3). Issue 4; results and the exact command: docs/performance.md.
//
//   MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 build/bench/bench/medseg_bench_unet
//       --benchmark_min_time=1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// GFLOP/s counts convolution FLOPs only, analytically (bench/unet_flops.h):
// 2 * C_in * C_out * k^3 per output voxel and convolution (transposed: per
// input voxel); forward + backward counts three times the forward. Interpolation, normalization and
// activations are not counted, so GFLOP/s is an "effective" rate.
//
// `medseg_bench_unet --agreement` prints, instead of timing, how far the
// logits of each bf16 / channels-last recipe are from float32's.
//
// Every benchmark runs one untimed call first (oneDNN creates its primitives
// on the first call with a new shape), and uses 2 intra-op threads.
//
// Precisions ("recipes"):
//   fp32            float32 module and input, NCDHW
//   bf16_autocast   float32 module, CPU autocast to bfloat16 (convolutions run
//                   in bf16, the output is bf16)
//   bf16_weights    module and input converted to bfloat16 (Module::to)
//   *_cl            the same with input and 5-D weights in channels_last_3d
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench/unet_flops.h"
#include "models/runtime.h"
#include "models/unet3d.h"
#include "models/upsample.h"

namespace {

using medseg::models::UNet3d;
using medseg::models::UNet3dOptions;
using torch::Tensor;

enum class Precision { kFloat32, kAutocastBf16, kBf16Weights };

struct Recipe {
  Precision precision;
  bool channels_last;
};

// CPU autocast to bfloat16 for the lifetime of the guard (if `on`).
class AutocastBf16 {
 public:
  explicit AutocastBf16(bool on) : on_(on) {
    if (!on_) return;
    was_enabled_ = at::autocast::is_cpu_enabled();
    old_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  ~AutocastBf16() {
    if (!on_) return;
    at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(old_dtype_);
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType old_dtype_ = at::kBFloat16;
};

// Converts the module (dtype) and its 5-D parameters (memory format) as the
// recipe says.
void prepare(torch::nn::Module& module, const Recipe& recipe) {
  if (recipe.precision == Precision::kBf16Weights) module.to(torch::kBFloat16);
  if (recipe.channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : module.parameters()) {
      if (p.dim() == 5) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast3d));
    }
  }
}

Tensor prepare_input(Tensor x, const Recipe& recipe) {
  if (recipe.precision == Precision::kBf16Weights) x = x.to(torch::kBFloat16);
  if (recipe.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast3d);
  return x;
}

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Minor page faults per timed iteration: fresh pages the kernel hands to
// malloc (the dominant cost here with glibc's default settings).
class FaultCounter {
 public:
  explicit FaultCounter(benchmark::State& state) : state_(state), start_(minor_faults()) {}
  ~FaultCounter() {
    if (state_.iterations() == 0) return;
    state_.counters["faults/iter"] =
        static_cast<double>(minor_faults() - start_) / static_cast<double>(state_.iterations());
  }
  FaultCounter(const FaultCounter&) = delete;
  FaultCounter& operator=(const FaultCounter&) = delete;

 private:
  benchmark::State& state_;
  long start_;
};

void set_rates(benchmark::State& state, double flops_per_iteration, double voxels_per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (voxels_per_iteration > 0) {
    state.counters["Mvoxel/s"] =
        benchmark::Counter(voxels_per_iteration * 1e-6, benchmark::Counter::kIsIterationInvariantRate);
  }
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// ------------------------------------------------------------------ U-Net

constexpr int64_t kPatch = 96;

// Returns false (and skips the benchmark) if the analytic walk does not match
// the network it is meant to describe.
bool unet_flops(benchmark::State& state, UNet3d& net, bool all_heads, double* flops) {
  const auto counted = medseg::bench::unet_forward_flops(net->options, {kPatch, kPatch, kPatch}, all_heads);
  const double weights = counted.weights;
  *flops = counted.flops;
  const double actual = medseg::bench::conv_weight_count(*net);
  if (weights != actual) {
    state.SkipWithError(("FLOP count does not describe the network: " + std::to_string(weights) +
                         " weights counted, " + std::to_string(actual) + " in the network")
                            .c_str());
    return false;
  }
  return true;
}

void BM_UNetForward(benchmark::State& state, Recipe recipe) {
  torch::manual_seed(0);
  UNet3d net(UNet3dOptions(1, 3));
  double flops = 0;
  if (!unet_flops(state, net, false, &flops)) return;
  net->eval();
  prepare(*net, recipe);
  const Tensor x = prepare_input(torch::randn({1, 1, kPatch, kPatch, kPatch}), recipe);
  torch::NoGradGuard no_grad;
  AutocastBf16 autocast(recipe.precision == Precision::kAutocastBf16);
  benchmark::DoNotOptimize(net->forward(x).data_ptr());  // untimed first call
  FaultCounter faults(state);
  for (auto _ : state) {
    const Tensor y = net->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_rates(state, flops, static_cast<double>(x.numel()));
}

// One training step without the optimizer: forward (train mode: batch
// statistics), backward with fixed random upstream gradients for every
// output, parameter gradients dropped.
void BM_UNetTrainStep(benchmark::State& state, Recipe recipe, bool deep_supervision) {
  torch::manual_seed(0);
  UNet3d net(UNet3dOptions(1, 3).deep_supervision(deep_supervision));
  double flops = 0;
  if (!unet_flops(state, net, deep_supervision, &flops)) return;
  net->train();
  prepare(*net, recipe);
  const Tensor x = prepare_input(torch::randn({1, 1, kPatch, kPatch, kPatch}), recipe);
  AutocastBf16 autocast(recipe.precision == Precision::kAutocastBf16);
  std::vector<Tensor> grads;
  for (const auto& y : net->forward_all(x)) grads.push_back(torch::randn_like(y));
  const auto step = [&] {
    const auto outputs = net->forward_all(x);
    torch::autograd::backward(outputs, grads);
    net->zero_grad();
  };
  step();  // untimed first call
  {
    FaultCounter faults(state);
    for (auto _ : state) step();
  }
  set_rates(state, 3 * flops, static_cast<double>(x.numel()));
}

// ---------------------------------------------------------- raw Conv3d

void BM_Conv3d(benchmark::State& state, Recipe recipe) {
  torch::manual_seed(0);
  const int64_t channels = 16;
  torch::nn::Conv3d conv(torch::nn::Conv3dOptions(channels, channels, 3).padding(1));
  prepare(*conv, recipe);
  const Tensor x = prepare_input(torch::randn({1, channels, kPatch, kPatch, kPatch}), recipe);
  torch::NoGradGuard no_grad;
  AutocastBf16 autocast(recipe.precision == Precision::kAutocastBf16);
  benchmark::DoNotOptimize(conv->forward(x).data_ptr());
  FaultCounter faults(state);
  for (auto _ : state) {
    const Tensor y = conv->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_rates(state, 2.0 * channels * channels * 27 * kPatch * kPatch * kPatch, static_cast<double>(x[0][0].numel()));
}

// ------------------------------------------------------------ up-sampling

// One decoder step: (1, 32, 48^3) -> (1, 16, 96^3).
constexpr int64_t kUpIn = 32, kUpOut = 16, kUpSide = 48;

enum class UpKind { kTransposedConv, kPixelShuffle, kNearestConv1, kNearestConv3, kTrilinearConv1, kConv1Nearest };

struct UpCandidate {
  std::function<Tensor(const Tensor&)> forward;
  torch::nn::Module* module;
  double flops;
};

void BM_Upsample(benchmark::State& state, UpKind kind, Recipe recipe, bool backward) {
  torch::manual_seed(0);
  namespace F = torch::nn::functional;
  const double in_voxels = static_cast<double>(kUpSide * kUpSide * kUpSide);
  const double out_voxels = 8 * in_voxels;
  const auto nearest = [](const Tensor& x) {
    return F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2, 2}).mode(torch::kNearest));
  };
  medseg::models::Upsample transposed(
      medseg::models::UpsampleOptions(kUpIn, kUpOut, {2, 2, 2}).kind(medseg::models::UpsampleKind::kTransposedConv));
  medseg::models::Upsample shuffle(medseg::models::UpsampleOptions(kUpIn, kUpOut, {2, 2, 2}));
  torch::nn::Conv3d conv1(torch::nn::Conv3dOptions(kUpIn, kUpOut, 1));
  torch::nn::Conv3d conv3(torch::nn::Conv3dOptions(kUpIn, kUpOut, 3).padding(1));
  UpCandidate c;
  switch (kind) {
    case UpKind::kTransposedConv:
      c = {[&](const Tensor& x) { return transposed->forward(x); }, transposed.get(),
           2.0 * kUpIn * kUpOut * 8 * in_voxels};
      break;
    case UpKind::kPixelShuffle:
      c = {[&](const Tensor& x) { return shuffle->forward(x); }, shuffle.get(), 2.0 * kUpIn * kUpOut * 8 * in_voxels};
      break;
    case UpKind::kNearestConv1:
      c = {[&](const Tensor& x) { return conv1->forward(nearest(x)); }, conv1.get(),
           2.0 * kUpIn * kUpOut * out_voxels};
      break;
    case UpKind::kNearestConv3:
      c = {[&](const Tensor& x) { return conv3->forward(nearest(x)); }, conv3.get(),
           2.0 * kUpIn * kUpOut * 27 * out_voxels};
      break;
    case UpKind::kTrilinearConv1:
      c = {[&](const Tensor& x) {
             return conv1->forward(F::interpolate(x, F::InterpolateFuncOptions()
                                                         .scale_factor(std::vector<double>{2, 2, 2})
                                                         .mode(torch::kTrilinear)
                                                         .align_corners(false)));
           },
           conv1.get(), 2.0 * kUpIn * kUpOut * out_voxels};
      break;
    case UpKind::kConv1Nearest:  // the 1x1x1 conv commutes with nearest up-sampling: run it first
      c = {[&](const Tensor& x) { return nearest(conv1->forward(x)); }, conv1.get(),
           2.0 * kUpIn * kUpOut * in_voxels};
      break;
  }
  prepare(*c.module, recipe);
  Tensor x = prepare_input(torch::randn({1, kUpIn, kUpSide, kUpSide, kUpSide}), recipe);
  AutocastBf16 autocast(recipe.precision == Precision::kAutocastBf16);
  if (backward) {
    x.requires_grad_(true);
    const Tensor g = torch::randn_like(c.forward(x));
    const auto step = [&] {
      c.forward(x).backward(g);
      x.mutable_grad().reset();
      c.module->zero_grad();
    };
    step();
    FaultCounter faults(state);
    for (auto _ : state) step();
  } else {
    torch::NoGradGuard no_grad;
    benchmark::DoNotOptimize(c.forward(x).data_ptr());
    FaultCounter faults(state);
    for (auto _ : state) {
      const Tensor y = c.forward(x);
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  set_rates(state, (backward ? 3 : 1) * c.flops, out_voxels);
}

constexpr Recipe kFp32{Precision::kFloat32, false};
constexpr Recipe kFp32Cl{Precision::kFloat32, true};
constexpr Recipe kAutocast{Precision::kAutocastBf16, false};
constexpr Recipe kAutocastCl{Precision::kAutocastBf16, true};
constexpr Recipe kBf16{Precision::kBf16Weights, false};
constexpr Recipe kBf16Cl{Precision::kBf16Weights, true};

// ----------------------------------------------- agreement with float32

// A smooth phantom: blurred ellipsoids of different intensity on a gentle
// gradient, plus a little noise; zero mean, unit variance.
Tensor phantom(int64_t side) {
  torch::manual_seed(7);
  const auto r = torch::linspace(-1, 1, side);
  const auto z = r.view({-1, 1, 1}), y = r.view({1, -1, 1}), x = r.view({1, 1, -1});
  Tensor v = 0.3 * x + 0.2 * y - 0.1 * z;
  v = v + ((x - 0.1).pow(2) / 0.25 + y.pow(2) / 0.16 + (z + 0.1).pow(2) / 0.3 < 1).to(torch::kFloat);
  v = v + 0.8 * ((x + 0.3).pow(2) + (y - 0.3).pow(2) + z.pow(2) < 0.04).to(torch::kFloat);
  v = v - 0.6 * ((x - 0.35).pow(2) + (y + 0.25).pow(2) + (z - 0.3).pow(2) < 0.02).to(torch::kFloat);
  v = v.view({1, 1, side, side, side});
  v = torch::avg_pool3d(v, 5, 1, 2, /*ceil_mode=*/false, /*count_include_pad=*/false);
  v = v + 0.05 * torch::randn_like(v);
  return (v - v.mean()) / v.std();
}

// Random-init default U-Net whose batch-norm running statistics are those of
// `calibration` (one train-mode pass with cumulative averaging), so eval-mode
// activations are normalized as in a trained network.
UNet3d calibrated_unet(const Tensor& calibration) {
  torch::manual_seed(0);
  UNet3d net(UNet3dOptions(1, 3).norm(medseg::models::NormOptions().momentum(c10::nullopt)));
  torch::NoGradGuard no_grad;
  net->train();
  net->forward(calibration);
  net->eval();
  return net;
}

int print_agreement() {
  const std::vector<std::pair<const char*, Recipe>> recipes{
      {"fp32_cl", kFp32Cl},           {"bf16_autocast", kAutocast}, {"bf16_autocast_cl", kAutocastCl},
      {"bf16_weights", kBf16},        {"bf16_weights_cl", kBf16Cl}};
  for (const bool smooth : {true, false}) {
    torch::manual_seed(3);
    const Tensor input = smooth ? phantom(kPatch) : torch::randn({1, 1, kPatch, kPatch, kPatch});
    UNet3d reference_net = calibrated_unet(input);
    torch::NoGradGuard no_grad;
    const Tensor ref = reference_net->forward(input);
    const auto top2 = std::get<0>(ref.topk(2, 1));
    const Tensor margin = top2.select(1, 0) - top2.select(1, 1);
    std::printf("%s input, 1x1x%lld^3, random-init UNet3dOptions(1, 3), BN statistics calibrated on the input\n",
                smooth ? "smooth phantom" : "N(0,1) noise", static_cast<long long>(kPatch));
    std::printf("  fp32 logits: max |logit| %.4g, median top-2 margin %.4g\n", ref.abs().max().item<double>(),
                margin.median().item<double>());
    for (const auto& [name, recipe] : recipes) {
      auto net = std::dynamic_pointer_cast<medseg::models::UNet3dImpl>(reference_net->clone());
      prepare(*net, recipe);
      const Tensor x = prepare_input(input, recipe);
      Tensor out;
      {
        AutocastBf16 autocast(recipe.precision == Precision::kAutocastBf16);
        out = net->forward(x);
      }
      const Tensor diff = (out.to(torch::kFloat) - ref).abs();
      const Tensor agree = (out.argmax(1) == ref.argmax(1)).to(torch::kFloat);
      const Tensor confident = margin > 0.1;
      std::printf("  %-17s out %-9s max |diff| %.4g  mean |diff| %.4g  argmax agreement %.5f  (where fp32 margin > 0.1: "
                  "%.5f of %.3f of voxels)\n",
                  name, c10::toString(out.scalar_type()), diff.max().item<double>(), diff.mean().item<double>(),
                  agree.mean().item<double>(), agree.masked_select(confident).mean().item<double>(),
                  confident.to(torch::kFloat).mean().item<double>());
    }
  }
  return 0;
}

#define MEDSEG_BENCH(...) BENCHMARK_CAPTURE(__VA_ARGS__)->Unit(benchmark::kMillisecond)->UseRealTime()->ComputeStatistics("min", min_of)

MEDSEG_BENCH(BM_UNetForward, fp32, kFp32);
MEDSEG_BENCH(BM_UNetForward, fp32_cl, kFp32Cl);
MEDSEG_BENCH(BM_UNetForward, bf16_autocast, kAutocast);
MEDSEG_BENCH(BM_UNetForward, bf16_autocast_cl, kAutocastCl);
MEDSEG_BENCH(BM_UNetForward, bf16_weights, kBf16);
MEDSEG_BENCH(BM_UNetForward, bf16_weights_cl, kBf16Cl);

MEDSEG_BENCH(BM_UNetTrainStep, fp32, kFp32, false);
MEDSEG_BENCH(BM_UNetTrainStep, fp32_cl, kFp32Cl, false);
MEDSEG_BENCH(BM_UNetTrainStep, bf16_autocast, kAutocast, false);
MEDSEG_BENCH(BM_UNetTrainStep, bf16_autocast_cl, kAutocastCl, false);
MEDSEG_BENCH(BM_UNetTrainStep, fp32_deep_supervision, kFp32, true);
MEDSEG_BENCH(BM_UNetTrainStep, bf16_autocast_deep_supervision, kAutocast, true);

MEDSEG_BENCH(BM_Conv3d, fp32, kFp32);
MEDSEG_BENCH(BM_Conv3d, fp32_cl, kFp32Cl);
MEDSEG_BENCH(BM_Conv3d, bf16_autocast, kAutocast);
MEDSEG_BENCH(BM_Conv3d, bf16_autocast_cl, kAutocastCl);
MEDSEG_BENCH(BM_Conv3d, bf16_weights, kBf16);
MEDSEG_BENCH(BM_Conv3d, bf16_weights_cl, kBf16Cl);

#define MEDSEG_UP(name, kind)                                          \
  MEDSEG_BENCH(BM_Upsample, name##_fp32_fwd, kind, kFp32, false);      \
  MEDSEG_BENCH(BM_Upsample, name##_bf16_fwd, kind, kAutocast, false);  \
  MEDSEG_BENCH(BM_Upsample, name##_fp32_fwdbwd, kind, kFp32, true);    \
  MEDSEG_BENCH(BM_Upsample, name##_bf16_fwdbwd, kind, kAutocast, true)

MEDSEG_UP(transposed_conv, UpKind::kTransposedConv);
MEDSEG_UP(pixel_shuffle, UpKind::kPixelShuffle);
MEDSEG_UP(nearest_conv1, UpKind::kNearestConv1);
MEDSEG_UP(conv1_nearest, UpKind::kConv1Nearest);
MEDSEG_UP(trilinear_conv1, UpKind::kTrilinearConv1);
MEDSEG_UP(nearest_conv3, UpKind::kNearestConv3);

}  // namespace

int main(int argc, char** argv) {
  const int threads = medseg::models::configure_threads(2);
  // --agreement: print how far each recipe's logits are from float32, no timing.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--agreement") return print_agreement();
  }
  benchmark::AddCustomContext("torch_threads", std::to_string(threads));
  for (const char* name : {"MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"}) {
    const char* value = std::getenv(name);
    benchmark::AddCustomContext(name, value ? value : "(unset)");
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
