#pragma once
// Counter-based randomness for training: every random draw is a function of
// (seed, stream, index), never of what ran before. Batches come out the
// same whatever the thread scheduling, and resuming needs no RNG state.
#include <cstdint>
#include <random>

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

 private:
  std::mt19937_64 engine_;
};

}  // namespace medseg::pipeline
