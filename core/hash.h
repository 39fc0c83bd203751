#pragma once
// Stable, portable hashing: the same bytes give the same value on every
// platform and standard library (unlike std::hash), so values can be stored
// in files (cache keys, bundle checksums) and compared later.
#include <cstdint>
#include <string_view>

namespace medseg::core {

/// The published FNV-1a 64 offset basis: fnv1a(bytes) equals what any
/// standard FNV-1a 64 implementation (Python's `fnvhash`, ...) computes.
inline constexpr std::uint64_t kFnv1aOffset = 14695981039346656037ULL;

/// The offset basis pipeline/ has used since its first release (the
/// published one with its last digit lost). pipeline::fnv1a (pipeline/random.h) keeps it because
/// phantoms, fold splits, seeds and cache keys derive from its values.
inline constexpr std::uint64_t kFnv1aPipelineOffset = 1469598103934665603ULL;

/// FNV-1a (64 bit) of `bytes`. Pass a previous result as `hash` to continue
/// over data that arrives in pieces: fnv1a(b, fnv1a(a)) == fnv1a(a + b).
/// Detects accidental corruption; it is no defence against deliberate edits.
inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash = kFnv1aOffset) {
  for (const unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

}  // namespace medseg::core
