#pragma once
// Deterministic labelled phantoms for tests and demos.
#include <array>
#include <cstdint>
#include <string>

#include "pipeline/synth/scanner_profile.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

struct PhantomOptions {
  /// Voxels along i, j, k.
  std::array<std::int64_t, 3> size{64, 64, 64};
  /// Isotropic voxel spacing in mm.
  double spacing_mm = 2.0;
  /// Same seed, same shapes (and, with the same profile, same intensities).
  std::uint64_t seed = 0;
};

/// A phantom: `image` (float32 intensities) and `labels` (0 = background,
/// 1 = organ ellipsoid, 2 = lesion nested in the organ, 3 = a box touching
/// the organ), both centred on the world origin with identity direction.
struct Phantom {
  Volume image;
  Volume labels;
};

/// Number of foreground labels a phantom holds (labels 1..kPhantomLabels).
inline constexpr int kPhantomLabels = 3;

/// Builds the phantom for `options.seed`. Shapes depend only on the seed
/// and size; `profile` changes intensities only.
Phantom make_phantom(const PhantomOptions& options, const ScannerProfile& profile);

/// File stem of a phantom: "phantom_0007_scanner_a" (labels add "_labels").
std::string phantom_name(std::uint64_t seed, const std::string& profile);

}  // namespace medseg::pipeline
