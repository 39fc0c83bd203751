#pragma once
// Tiny volumes built in code for the GUI logic tests.
#include <ATen/ATen.h>

#include <array>
#include <cstdint>

#include "pipeline/volume.h"

namespace medseg::gui::test {

/// A grid of `size` (i, j, k) voxels with `spacing` (mm) and row-major LPS
/// `direction`, placed so that the centre of voxel `centre` lies at world
/// (0, 0, 0): origin = -direction * diag(spacing) * centre.
inline pipeline::Geometry centred_geometry(const std::array<std::int64_t, 3>& size,
                                           const std::array<double, 3>& spacing,
                                           const std::array<double, 9>& direction,
                                           const std::array<std::int64_t, 3>& centre) {
  pipeline::Geometry g;
  g.size = size;
  g.spacing = spacing;
  g.direction = direction;
  for (int r = 0; r < 3; ++r) {
    double o = 0.0;
    for (int c = 0; c < 3; ++c) o -= direction[r * 3 + c] * spacing[c] * static_cast<double>(centre[c]);
    g.origin[r] = o;
  }
  return g;
}

/// A zero float32 volume (D, H, W) on `geometry`.
inline pipeline::Volume zero_volume(const pipeline::Geometry& geometry) {
  pipeline::Volume v;
  v.geometry = geometry;
  v.data = at::zeros({geometry.size[2], geometry.size[1], geometry.size[0]}, at::kFloat);
  v.pixel_type = "float32";
  return v;
}

/// A plain LPS grid (identity direction, origin 0).
inline pipeline::Geometry lps_geometry(const std::array<std::int64_t, 3>& size,
                                       const std::array<double, 3>& spacing) {
  pipeline::Geometry g;
  g.size = size;
  g.spacing = spacing;
  return g;
}

/// Linear index of voxel (i, j, k) in a (D, H, W) buffer of `g`.
inline std::int64_t linear(const pipeline::Geometry& g, std::int64_t i, std::int64_t j, std::int64_t k) {
  return (k * g.size[1] + j) * g.size[0] + i;
}

}  // namespace medseg::gui::test
