#pragma once
// "auto" precision on CPUs with AVX512_BF16 but no AMX: measured, not
// guessed (models/precision.h, AutoPrecisionRule::kMeasured). A folded U-Net
// forward is timed in fp32 and in bf16 once per CPU and user, and the answer
// is cached, so that every later process (and a resumed training run) on
// that CPU makes the same choice without paying for the measurement.
#include <filesystem>
#include <functional>
#include <string>

#include "models/cpu_features.h"
#include "models/precision.h"

namespace medseg::models {

/// Seconds of one pass of the measurement workload in each precision.
struct PrecisionTimings {
  double fp32_seconds = 0.0;
  double bf16_seconds = 0.0;
};

/// kBf16 when bf16 takes at most 95 % of fp32's time, else kFp32: fp32 is
/// the exact one, so a tie (within the measurement's noise) goes to it.
Precision faster_precision(const PrecisionTimings& timings);

/// Times the network medseg runs at inference, folded (InferenceUNet3d):
/// random weights, base 8, depth 4, batch 2, windows of `side`^3 voxels
/// (default 48: ~0.3 s per fp32 pass on 2 cores), in fp32 and in bf16,
/// interleaved; the median of 3 passes after one warm-up pass each. Uses
/// the threads LibTorch is set to.
PrecisionTimings time_precisions(int side = 48);

/// What the cache holds for one CPU, and where it came from.
struct MeasuredPrecision {
  Precision precision = Precision::kFp32;
  PrecisionTimings timings;
  std::filesystem::path cache_file;
  bool from_cache = false;
};

/// The cache file: $XDG_CACHE_HOME/medseg/precision.json, else
/// $HOME/.cache/medseg/precision.json (empty path when neither is set).
std::filesystem::path precision_cache_file();

/// The key of a CPU in the cache: brand string, CPUID signature, ISA flags
/// (with any oneDNN cap), LibTorch's thread count and version.
std::string precision_cache_key(const CpuFeatures& cpu);

/// The measured choice for `cpu`: from `cache_file` when it holds an entry
/// for precision_cache_key(cpu) (and `measure_again` is false), otherwise
/// `time()` is called and its answer stored there (written atomically; an
/// unreadable or damaged cache is measured over, an unwritable one only
/// logged at debug level: the answer then holds for this process). Callers
/// take turns on an flock of CACHE.lock, so that processes started together
/// measure once and agree.
MeasuredPrecision measured_precision(const CpuFeatures& cpu, const std::filesystem::path& cache_file,
                                     const std::function<PrecisionTimings()>& time, bool measure_again = false);

/// measured_precision() with the default cache file and time_precisions().
MeasuredPrecision measured_precision(const CpuFeatures& cpu, bool measure_again = false);

}  // namespace medseg::models
