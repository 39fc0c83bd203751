#pragma once
// Portable, reproducible randomness. Training draws are counter-based: a
// function of (seed, stream, index), never of what ran before, so batches
// come out the same whatever the thread scheduling and resuming needs no RNG
// state. Phantoms use the same generator, so a seed gives the same volume on
// any standard library.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "core/hash.h"

namespace medseg::pipeline {

/// SplitMix64 finalizer: a well-mixed 64-bit hash.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Seed for item `index` of stream `stream` under the global `seed`.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return mix64(mix64(mix64(seed) ^ stream) ^ index);
}

/// FNV-1a hash of a string (stable across platforms, unlike std::hash). The
/// one implementation is core::fnv1a (bundle checksums use it too); the
/// pipeline keeps its historic offset basis so that seeds, phantoms, fold
/// splits and cache keys stay what they were.
inline std::uint64_t fnv1a(const std::string& s) { return core::fnv1a(s, core::kFnv1aPipelineOffset); }

/// Portable uniform/normal draws from mt19937_64 (std distributions differ
/// between standard libraries).
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Integer in [0, n).
  std::int64_t index(std::int64_t n) { return static_cast<std::int64_t>(uniform() * static_cast<double>(n)) % n; }
  bool chance(double p) { return uniform() < p; }
  std::uint64_t bits() { return engine_(); }
  /// Standard normal (Box-Muller; the second value of each pair is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace medseg::pipeline
