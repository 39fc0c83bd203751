#include "models/precision_measurement.h"

#include <ATen/Parallel.h>
#include <fcntl.h>
#include <sys/file.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "core/debug_log.h"
#include "models/onednn_unet3d.h"
#include "models/unet3d.h"

namespace medseg::models {
namespace fs = std::filesystem;

Precision faster_precision(const PrecisionTimings& timings) {
  return timings.bf16_seconds > 0.0 && timings.bf16_seconds <= 0.95 * timings.fp32_seconds ? Precision::kBf16
                                                                                            : Precision::kFp32;
}

namespace {

// The measurement draws random weights and input; the global generator is
// put back as it was, so that a training run that measures on its first
// `auto` draws the same patches and weights as one that read the cache.
class DefaultGeneratorRestorer {
 public:
  DefaultGeneratorRestorer() : generator_(at::detail::getDefaultCPUGenerator()) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    state_ = generator_.get_state();
  }
  ~DefaultGeneratorRestorer() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(state_);
  }
  DefaultGeneratorRestorer(const DefaultGeneratorRestorer&) = delete;
  DefaultGeneratorRestorer& operator=(const DefaultGeneratorRestorer&) = delete;

 private:
  at::Generator generator_;
  at::Tensor state_;
};

}  // namespace

PrecisionTimings time_precisions(int side) {
  const DefaultGeneratorRestorer restorer;
  torch::NoGradGuard no_grad;
  // The shape of the bundled models (base 8, depth 4); its cost is mostly
  // the full-resolution 8-channel convolutions, as in theirs.
  torch::manual_seed(0);
  UNet3d model(UNet3dOptions(1, 3).base_features(8).depth(4));
  model->eval();
  // Each precision as `medseg infer` runs it.
  const auto fp32 = folded_forward(model, 0, false);
  const auto bf16 = folded_forward(model, 0, true);
  const torch::Tensor x = torch::randn({2, 1, side, side, side});
  const auto seconds = [&x](const std::function<torch::Tensor(const torch::Tensor&)>& net) {
    const auto start = std::chrono::steady_clock::now();
    (void)net(x);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  seconds(fp32);  // warm-up: oneDNN's kernels and the allocator's first touch
  seconds(bf16);
  std::vector<double> a, b;
  for (int i = 0; i < 3; ++i) {  // interleaved: load from other processes spreads over both
    a.push_back(seconds(fp32));
    b.push_back(seconds(bf16));
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {a[1], b[1]};
}

fs::path precision_cache_file() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    return fs::path(xdg) / "medseg" / "precision.json";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "medseg" / "precision.json";
  }
  return {};
}

std::string precision_cache_key(const CpuFeatures& cpu) {
  return (cpu.model_name.empty() ? "unknown CPU" : cpu.model_name) + "; " +
         (cpu.signature.empty() ? "no signature" : cpu.signature) + "; " + cpu.isa_summary() + "; " +
         std::to_string(at::get_num_threads()) + " threads; LibTorch " + TORCH_VERSION +
         "; oneDNN's API";  // measurements of the earlier LibTorch path do not count
}

namespace {

nlohmann::json read_cache(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return nlohmann::json::object();
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) return j;
  core::debug_log("precision", "ignoring the damaged cache " + file.string());
  return nlohmann::json::object();
}

// An entry as the cache stores it, or nothing when it is not one.
bool entry_timings(const nlohmann::json& entry, PrecisionTimings& t) {
  if (!entry.is_object()) return false;
  const auto fp32 = entry.find("fp32_seconds");
  const auto bf16 = entry.find("bf16_seconds");
  if (fp32 == entry.end() || bf16 == entry.end() || !fp32->is_number() || !bf16->is_number()) return false;
  t = {fp32->get<double>(), bf16->get<double>()};
  return t.fp32_seconds > 0.0 && t.bf16_seconds > 0.0;
}

// An exclusive lock on CACHE.lock for as long as it lives: processes started
// together (a parallel test suite, the ranks of a training run) measure one
// after the other, and all but the first find the answer in the cache, so
// they cannot choose differently. No lock (a folder it cannot write) means
// no waiting.
class CacheLock {
 public:
  explicit CacheLock(const fs::path& cache_file) {
    if (cache_file.empty()) return;
    std::error_code ec;
    fs::create_directories(cache_file.parent_path(), ec);
    fd_ = ::open((cache_file.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

MeasuredPrecision measured_precision(const CpuFeatures& cpu, const fs::path& cache_file,
                                     const std::function<PrecisionTimings()>& time, bool measure_again) {
  MeasuredPrecision result;
  result.cache_file = cache_file;
  const std::string key = precision_cache_key(cpu);
  const CacheLock lock(cache_file);
  nlohmann::json cache = cache_file.empty() ? nlohmann::json::object() : read_cache(cache_file);
  if (!measure_again && cache.contains(key) && entry_timings(cache[key], result.timings)) {
    // The decision is recomputed from the stored times, so a cache written
    // with another threshold cannot disagree with faster_precision().
    result.precision = faster_precision(result.timings);
    result.from_cache = true;
    return result;
  }
  result.timings = time();
  result.precision = faster_precision(result.timings);
  if (cache_file.empty()) return result;
  cache[key] = {{"fp32_seconds", result.timings.fp32_seconds},
                {"bf16_seconds", result.timings.bf16_seconds},
                {"choice", to_string(result.precision)}};
  try {
    fs::create_directories(cache_file.parent_path());
    core::write_text_file_atomically(cache_file, cache.dump(2) + "\n");
  } catch (const std::exception& e) {
    core::debug_log("precision", std::string("cannot write the cache: ") + e.what());
  }
  return result;
}

MeasuredPrecision measured_precision(const CpuFeatures& cpu, bool measure_again) {
  return measured_precision(cpu, precision_cache_file(), [] { return time_precisions(); }, measure_again);
}

}  // namespace medseg::models
