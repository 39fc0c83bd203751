// The inference network (models/inference_unet3d.h: batch norm folded into
// the convolutions) against the trained UNet3d it comes from, and both
// against the Conv3d ceiling of this machine: the U-Net's forward GFLOP/s
// (convolution FLOPs counted analytically, bench/unet_flops.h) next to the
// best of a few large, well-shaped Conv3d at the same precision and threads.
// Issue 13; figures and commands in docs/performance.md.
//
//   build/release/bench/medseg_bench_inference_network [--precision fp32|bf16|auto|both]
//       [--rounds N] [--base 8|16] [--patch 64] [--threads 2] [--only "folded, batch 2"]
//
// prints the CPU (model, ISA flags), then one table per precision. Every
// variant is timed in rounds: each round runs every variant once, in turn,
// so load from other processes spreads over all of them (A/B/A/B); the table
// gives the median and the minimum per variant. Every variant runs once
// untimed first (oneDNN creates its primitives per shape on the first call).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench/unet_flops.h"
#include "models/allocator.h"
#include "models/autocast.h"
#include "models/cpu_features.h"
#include "models/direct_conv3x3x3.h"
#include "models/inference_unet3d.h"
#include "models/onednn_unet3d.h"
#include "models/precision.h"
#include "models/runtime.h"
#include "models/unet3d.h"

namespace {

using medseg::models::InferenceUNet3d;
using medseg::models::InferenceUNet3dOptions;
using medseg::models::UNet3d;
using medseg::models::UNet3dOptions;
using torch::Tensor;

struct Args {
  std::string precision = "both";
  int rounds = 7;
  int64_t base = 8;
  int64_t patch = 64;
  int threads = 2;
  std::string only;  // run only variants whose name contains this
};

struct Variant {
  std::string name;
  double flops = 0;       // per call
  int64_t windows = 0;    // per call (0: not a U-Net)
  std::function<void()> run;
  std::vector<double> seconds;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_of(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A U-Net as trained for the bundled samples (3 classes, depth 4, batch norm),
// its batch-norm statistics made non-trivial by a few training-mode passes.
UNet3d trained_like(const Args& a) {
  torch::manual_seed(0);
  UNet3d net(UNet3dOptions(1, 3).base_features(a.base));
  torch::NoGradGuard no_grad;
  net->train();
  for (int i = 0; i < 2; ++i) net->forward(torch::randn({2, 1, 32, 32, 32}));
  net->eval();
  return net;
}

void print_cpu() {
  const auto& cpu = medseg::models::cpu_features();
  std::printf("CPU: %s\nISA: %s\nthreads: %d\n", cpu.model_name.c_str(), cpu.isa_summary().c_str(),
              at::get_num_threads());
}

void run_table(const Args& a, bool bf16) {
  const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  std::vector<Variant> variants;

  // The ceiling: large Conv3d, 3x3x3, stride 1, at the precision's best
  // (bf16 weights and input for bf16), batch 1, 64^3.
  for (int64_t c : {16, 32, 64}) {
    auto conv = torch::nn::Conv3d(torch::nn::Conv3dOptions(c, c, 3).padding(1));
    conv->to(dtype);
    const Tensor x = torch::randn({1, c, 64, 64, 64}).to(dtype);
    variants.push_back({"Conv3d " + std::to_string(c) + "->" + std::to_string(c) + " 3^3, 64^3",
                        2.0 * c * c * 27 * 64 * 64 * 64, 0, [conv, x]() mutable {
                          torch::NoGradGuard no_grad;
                          conv->forward(x);
                        },
                        {}});
  }
  const size_t ceiling_count = variants.size();

  UNet3d net = trained_like(a);
  const auto counted = medseg::bench::unet_forward_flops(net->options, {a.patch, a.patch, a.patch}, false);
  if (counted.weights != medseg::bench::conv_weight_count(*net)) {
    std::printf("FLOP walk does not describe the network (%g vs %g weights)\n", counted.weights,
                medseg::bench::conv_weight_count(*net));
    return;
  }
  for (int64_t batch : {1, 2, 4}) {
    const Tensor x = torch::randn({batch, 1, a.patch, a.patch, a.patch});
    const double flops = counted.flops * static_cast<double>(batch);
    variants.push_back({"UNet3d (reference), batch " + std::to_string(batch), flops, batch, [net, x, bf16]() mutable {
                          torch::NoGradGuard no_grad;
                          medseg::models::Bf16Autocast autocast(bf16);
                          net->forward(x).to(torch::kFloat);
                        },
                        {}});
    for (bool cl : {false, true}) {
      const auto fast = std::make_shared<InferenceUNet3d>(net, 0, InferenceUNet3dOptions().bf16(bf16).channels_last(cl));
      variants.push_back({std::string("folded") + (cl ? ", channels-last" : "") + ", batch " + std::to_string(batch),
                          flops, batch, [fast, x]() { fast->forward(x); }, {}});
    }
    // The same network on oneDNN's API: blocked layout throughout, fused
    // LeakyReLU (float32 only).
    const auto folded = std::make_shared<InferenceUNet3d>(net, 0, InferenceUNet3dOptions().bf16(bf16));
    if (medseg::models::OnednnUNet3d::supports(*folded)) {
      const auto direct = std::make_shared<medseg::models::OnednnUNet3d>(*folded);
      {
        torch::NoGradGuard no_grad;
        const double diff = (direct->forward(x) - folded->forward(x)).abs().max().item<double>();
        std::printf("oneDNN network, batch %lld: max |logit difference| to folded %.3g\n",
                    static_cast<long long>(batch), diff);
      }
      std::printf("oneDNN network, batch %lld: %d layers on the direct kernel (models/direct_conv3x3x3.h)\n",
                  static_cast<long long>(batch), direct->direct_layers());
      variants.push_back({"oneDNN folded, batch " + std::to_string(batch), flops, batch,
                          [direct, x]() { direct->forward(x); }, {}});
      // The other choice, measured beside it: oneDNN's kernels for every
      // layer where the default puts some on the direct kernel (AVX2; a
      // bf16 network's first layer), else every fitting layer on it.
      const auto other_choice = direct->direct_layers() > 0 ? medseg::models::DirectKernels::never
                                                            : medseg::models::DirectKernels::always;
      if (other_choice == medseg::models::DirectKernels::never || medseg::models::direct_conv_available()) {
        const auto other = std::make_shared<medseg::models::OnednnUNet3d>(*folded, other_choice);
        variants.push_back({std::string("oneDNN folded, ") +
                                (other_choice == medseg::models::DirectKernels::never ? "no" : "all") +
                                " direct kernels, batch " + std::to_string(batch),
                            flops, batch, [other, x]() { other->forward(x); }, {}});
      }
    }
    // One batch per thread, each thread's ATen loops on that thread alone
    // (as the training loader's workers):
    // no barriers between the threads, at the price of one batch's
    // activations per thread.
    const auto fast = std::make_shared<InferenceUNet3d>(net, 0, InferenceUNet3dOptions().bf16(bf16));
    const int threads = a.threads;
    variants.push_back({"folded, " + std::to_string(threads) + " threads x batch " + std::to_string(batch),
                        flops * threads, batch * threads, [fast, x, threads]() {
                          std::vector<std::thread> pool;
                          for (int t = 0; t < threads; ++t) {
                            pool.emplace_back([&fast, &x] {
                              medseg::models::limit_this_thread_to_one_compute_thread();
                              torch::NoGradGuard no_grad;
                              fast->forward(x);
                            });
                          }
                          for (auto& t : pool) t.join();
                        },
                        {}});
  }

  if (!a.only.empty()) {
    // The ceiling stays: the table is read against it.
    std::vector<Variant> kept(variants.begin(), variants.begin() + static_cast<std::ptrdiff_t>(ceiling_count));
    for (size_t i = ceiling_count; i < variants.size(); ++i) {
      if (variants[i].name.find(a.only) != std::string::npos) kept.push_back(variants[i]);
    }
    variants = kept;
  }
  for (auto& v : variants) v.run();  // untimed: primitive creation, first-touch memory
  for (int r = 0; r < a.rounds; ++r) {
    for (auto& v : variants) v.seconds.push_back(seconds_of(v.run));
  }

  double ceiling = 0;
  for (size_t i = 0; i < ceiling_count; ++i) ceiling = std::max(ceiling, variants[i].flops / median(variants[i].seconds) * 1e-9);
  std::printf("\nprecision %s; U-Net base %lld, depth 4, 3 classes, patch %lld^3: %.2f GFLOP per window; "
              "%d rounds\n",
              bf16 ? "bf16" : "fp32", static_cast<long long>(a.base), static_cast<long long>(a.patch),
              counted.flops * 1e-9, a.rounds);
  std::printf("%-40s %11s %11s %12s %10s %11s\n", "variant", "median ms", "min ms", "ms/window", "GFLOP/s",
              "of ceiling");
  for (const auto& v : variants) {
    const double med = median(v.seconds);
    const double gflops = v.flops / med * 1e-9;
    std::printf("%-40s %11.1f %11.1f %12s %10.1f %10.0f%%\n", v.name.c_str(), med * 1e3,
                *std::min_element(v.seconds.begin(), v.seconds.end()) * 1e3,
                v.windows ? std::to_string(static_cast<int>(med * 1e3 / static_cast<double>(v.windows) + 0.5)).c_str()
                          : "",
                gflops, 100.0 * gflops / ceiling);
  }
  std::printf("ceiling (best Conv3d median): %.1f GFLOP/s\n", ceiling);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--precision") {
      a.precision = value;
    } else if (key == "--rounds") {
      a.rounds = std::stoi(value);
    } else if (key == "--base") {
      a.base = std::stoll(value);
    } else if (key == "--patch") {
      a.patch = std::stoll(value);
    } else if (key == "--only") {
      a.only = value;
    } else if (key == "--threads") {
      a.threads = std::stoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "options come in pairs: --precision fp32|bf16|auto|both --rounds N --base B --patch P --threads T --only TEXT\n");
    return 2;
  }
  // As medseg does: freed memory reused, large tensors in cached huge pages.
  medseg::models::reuse_freed_memory();
  medseg::models::use_huge_page_tensor_allocator();
  medseg::models::configure_threads(a.threads);
  print_cpu();
  using medseg::models::Precision;
  const bool auto_bf16 = medseg::models::resolve_precision(Precision::kAuto) == Precision::kBf16;
  if (a.precision == "fp32" || a.precision == "both" || (a.precision == "auto" && !auto_bf16)) run_table(a, false);
  if (a.precision == "bf16" || (a.precision == "both" && auto_bf16) || (a.precision == "auto" && auto_bf16)) {
    run_table(a, true);
  }
  return 0;
}
