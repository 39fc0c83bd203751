#include "pipeline/synth/phantom.h"

#include <ATen/ATen.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "pipeline/random.h"

namespace medseg::pipeline {
namespace {

// Tissue values on the [0, 1] scale before the scanner model.
constexpr float kAir = 0.0f, kBody = 0.3f, kOrgan = 0.65f, kLesion = 0.95f, kBox = 0.45f;


}  // namespace

Phantom make_phantom(const PhantomOptions& options, const ScannerProfile& profile) {
  for (int d = 0; d < 3; ++d) {
    if (options.size[d] < 8) {
      throw ConfigError("phantom size must be at least 8 voxels per axis, got " +
                        std::to_string(options.size[d]));
    }
  }
  if (!(options.spacing_mm > 0.0)) throw ConfigError("phantom spacing must be positive");

  Geometry g;
  g.size = options.size;
  g.spacing = {options.spacing_mm, options.spacing_mm, options.spacing_mm};
  for (int d = 0; d < 3; ++d) g.origin[d] = -0.5 * static_cast<double>(g.size[d] - 1) * options.spacing_mm;

  // World coordinates (mm) of every voxel centre, each shaped (D, H, W).
  const auto axis = [&](int d) {
    return at::arange(g.size[d], at::kDouble) * g.spacing[d] + g.origin[d];
  };
  const auto grids = at::meshgrid({axis(2), axis(1), axis(0)}, "ij");
  const std::array<at::Tensor, 3> xyz{grids[2], grids[1], grids[0]};
  std::array<double, 3> half{};
  for (int d = 0; d < 3; ++d) half[d] = 0.5 * static_cast<double>(g.size[d]) * g.spacing[d];

  Random shape_rng(options.seed);
  const auto ellipsoid = [&](const std::array<double, 3>& c, const std::array<double, 3>& a) {
    at::Tensor r = at::zeros_like(xyz[0]);
    for (int d = 0; d < 3; ++d) r = r + ((xyz[d] - c[d]) / a[d]).pow(2);
    return r <= 1.0;
  };
  std::array<double, 3> body_c{}, body_a{}, organ_c{}, organ_a{}, lesion_c{};
  for (int d = 0; d < 3; ++d) {
    body_c[d] = shape_rng.uniform(-0.05, 0.05) * half[d];
    body_a[d] = shape_rng.uniform(0.78, 0.9) * half[d];
  }
  for (int d = 0; d < 3; ++d) {
    organ_c[d] = body_c[d] + shape_rng.uniform(-0.18, 0.18) * half[d];
    organ_a[d] = shape_rng.uniform(0.26, 0.36) * half[d];
  }
  const double lesion_r = std::min({organ_a[0], organ_a[1], organ_a[2]}) * shape_rng.uniform(0.3, 0.45);
  for (int d = 0; d < 3; ++d) lesion_c[d] = organ_c[d] + shape_rng.uniform(-0.3, 0.3) * organ_a[d];
  // The box touches the organ at the end of one of its axes.
  const int box_axis = static_cast<int>(shape_rng.uniform() * 3.0) % 3;
  const double box_side = shape_rng.uniform() < 0.5 ? -1.0 : 1.0;
  std::array<double, 3> box_half{}, box_c = organ_c;
  for (int d = 0; d < 3; ++d) box_half[d] = shape_rng.uniform(0.1, 0.16) * half[d];
  box_c[box_axis] += box_side * (organ_a[box_axis] + box_half[box_axis] * 0.8);

  const at::Tensor body = ellipsoid(body_c, body_a);
  const at::Tensor organ = ellipsoid(organ_c, organ_a) & body;
  const at::Tensor lesion = ellipsoid(lesion_c, {lesion_r, lesion_r, lesion_r}) & organ;
  at::Tensor box = body & ~organ;
  for (int d = 0; d < 3; ++d) box = box & ((xyz[d] - box_c[d]).abs() <= box_half[d]);

  at::Tensor labels = at::zeros(xyz[0].sizes(), at::kFloat);
  labels.masked_fill_(organ, 1.0f).masked_fill_(lesion, 2.0f).masked_fill_(box, 3.0f);
  at::Tensor tissue = at::full(xyz[0].sizes(), kAir, at::kFloat);
  tissue.masked_fill_(body, kBody).masked_fill_(organ, kOrgan).masked_fill_(lesion, kLesion);
  tissue.masked_fill_(box, kBox);

  // The scanner model draws from its own stream, so profiles never move shapes.
  const at::Tensor v = simulate_scanner(tissue, body, profile, options.spacing_mm,
                                        options.seed * 0x9E3779B97F4A7C15ULL ^ fnv1a(profile.name));

  Phantom phantom;
  phantom.image.geometry = g;
  phantom.image.data = v;
  phantom.image.pixel_type = "float32";
  phantom.image.metadata.modality = "SYNTH";
  phantom.image.metadata.model = profile.name;
  phantom.labels.geometry = g;
  phantom.labels.data = labels.contiguous();
  phantom.labels.pixel_type = "uint8";
  return phantom;
}

std::string phantom_name(std::uint64_t seed, const std::string& profile) {
  std::ostringstream name;
  name << "phantom_" << std::setw(4) << std::setfill('0') << seed << "_" << profile;
  return name.str();
}

}  // namespace medseg::pipeline
