#include "pipeline/train/augmenter.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "pipeline/train/intensity_transforms.h"

namespace medseg::pipeline {
namespace {

// Tensor dim of index axis a in a (.., D, H, W) tensor with `lead` leading dims.
std::int64_t dim_of(int axis, std::int64_t lead) { return lead + 2 - axis; }

}  // namespace

Patch extract_patch(const TrainingCase& c, const std::array<std::int64_t, 3>& center,
                    const std::array<std::int64_t, 3>& patch_size) {
  const std::int64_t channels = c.image.size(0);
  Patch p;
  p.image = at::zeros({channels, patch_size[2], patch_size[1], patch_size[0]}, at::kFloat);
  p.labels = at::zeros({patch_size[2], patch_size[1], patch_size[0]}, at::kLong);
  at::Tensor src_img = c.image, dst_img = p.image, src_lab = c.labels, dst_lab = p.labels;
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t n = c.labels.size(2 - axis);
    const std::int64_t start = center[axis] - patch_size[axis] / 2;
    const std::int64_t lo = std::max<std::int64_t>(0, start);
    const std::int64_t hi = std::min(n, start + patch_size[axis]);
    if (hi <= lo) return p;  // entirely outside: all padding
    src_img = src_img.slice(dim_of(axis, 1), lo, hi);
    dst_img = dst_img.slice(dim_of(axis, 1), lo - start, hi - start);
    src_lab = src_lab.slice(dim_of(axis, 0), lo, hi);
    dst_lab = dst_lab.slice(dim_of(axis, 0), lo - start, hi - start);
  }
  dst_img.copy_(src_img);
  dst_lab.copy_(src_lab);
  return p;
}

Patch transform_patch(const TrainingCase& c, const std::array<std::int64_t, 3>& center,
                      const std::array<std::int64_t, 3>& patch_size, const SpatialParams& params) {
  const auto& a = params.angles;
  // R = Rz * Ry * Rx about the index axes i (x), j (y), k (z).
  const double cx = std::cos(a[0]), sx = std::sin(a[0]), cy = std::cos(a[1]), sy = std::sin(a[1]);
  const double cz = std::cos(a[2]), sz = std::sin(a[2]);
  const double r[3][3] = {{cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx},
                          {sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx},
                          {-sy, cy * sx, cy * cx}};
  const auto offsets = [&](int axis) {
    // Offsets from the centre voxel, which sits at index size / 2 as in
    // extract_patch, so the identity transform reproduces it exactly.
    return (at::arange(patch_size[axis], at::kFloat) - static_cast<float>(patch_size[axis] / 2)) /
           static_cast<float>(params.scale);
  };
  const auto grids = at::meshgrid({offsets(2), offsets(1), offsets(0)}, "ij");  // (pd, ph, pw) each
  const std::array<at::Tensor, 3> o{grids[2], grids[1], grids[0]};
  const std::array<std::int64_t, 3> size{c.labels.size(2), c.labels.size(1), c.labels.size(0)};
  std::vector<at::Tensor> normalized;  // grid_sample wants (x, y, z) = (i, j, k) in [-1, 1]
  for (int row = 0; row < 3; ++row) {
    at::Tensor pos = o[0] * static_cast<float>(r[row][0]) + o[1] * static_cast<float>(r[row][1]) +
                     o[2] * static_cast<float>(r[row][2]) + static_cast<float>(center[row]);
    if (params.displacement.defined()) pos = pos + params.displacement[row];
    normalized.push_back(pos * (2.0f / static_cast<float>(std::max<std::int64_t>(size[row] - 1, 1))) - 1.0f);
  }
  const at::Tensor grid = at::stack(normalized, -1).unsqueeze(0);  // (1, pd, ph, pw, 3)
  Patch p;
  // interpolation 0 = bilinear (trilinear in 3D), 1 = nearest; padding 0 = zeros.
  p.image = at::grid_sampler(c.image.unsqueeze(0), grid, 0, 0, true).squeeze(0);
  p.labels = at::grid_sampler(c.labels.to(at::kFloat).unsqueeze(0).unsqueeze(0), grid, 1, 0, true)
                 .squeeze(0)
                 .squeeze(0)
                 .round()
                 .to(at::kLong);
  return p;
}

Augmenter::Augmenter(AugmentationConfig config, std::array<std::int64_t, 3> patch_size)
    : config_(std::move(config)), patch_size_(patch_size) {}

Patch Augmenter::operator()(const TrainingCase& c, const PatchLocation& location, Random& random,
                            const Random* scanner) const {
  const AugmentationConfig& a = config_;
  if (!a.enabled) return extract_patch(c, location.center, patch_size_);
  SpatialParams sp;
  bool spatial = false;
  constexpr double kDegree = M_PI / 180.0;
  for (int axis = 0; axis < 3; ++axis) {
    if (random.chance(a.rotation.probability)) {
      sp.angles[axis] = random.uniform(a.rotation.range[0], a.rotation.range[1]) * kDegree;
      spatial = true;
    }
  }
  if (random.chance(a.scaling.probability)) {
    sp.scale = random.uniform(a.scaling.range[0], a.scaling.range[1]);
    spatial = true;
  }
  const bool elastic = random.chance(a.elastic.probability);
  const double elastic_magnitude = random.uniform(a.elastic.range[0], a.elastic.range[1]);
  const std::uint64_t tensor_seed = random.bits();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(tensor_seed);
  if (elastic && elastic_magnitude > 0.0) {
    // Smooth displacement: random values on a 4^3 control grid, upsampled.
    at::Tensor coarse = at::randn({1, 3, 4, 4, 4}, generator) * elastic_magnitude;
    sp.displacement = at::upsample_trilinear3d(coarse, {patch_size_[2], patch_size_[1], patch_size_[0]}, true)
                          .squeeze(0);
    spatial = true;
  }
  Patch p = spatial ? transform_patch(c, location.center, patch_size_, sp)
                    : extract_patch(c, location.center, patch_size_);
  for (int axis = 0; axis < 3; ++axis) {
    if (random.chance(a.flip_probability)) {
      p.image = p.image.flip({dim_of(axis, 1)});
      p.labels = p.labels.flip({dim_of(axis, 0)});
    }
  }
  p.image = p.image.contiguous();
  p.labels = p.labels.contiguous();
  if (scanner != nullptr) {
    Random parameters = *scanner;
    augment_intensity(p.image, parameters, &random);
  } else {
    augment_intensity(p.image, random);
  }
  return p;
}

void Augmenter::augment_intensity(at::Tensor& image, Random& random, Random* noise) const {
  // The order of the draws is part of the batches' definition (a seed gives
  // the same batches in every version): transforms added later draw last.
  const AugmentationConfig& a = config_;
  if (!a.enabled) return;
  const std::uint64_t tensor_seed = random.bits();  // drawn in either case: the parameters' sequence stays
  auto generator = at::make_generator<at::CPUGeneratorImpl>(noise != nullptr ? noise->bits() : tensor_seed);
  const std::int64_t channels = image.size(0);
  if (random.chance(a.noise.probability)) {
    const double variance = random.uniform(a.noise.range[0], a.noise.range[1]);
    image.add_(at::randn(image.sizes(), generator) * std::sqrt(variance));
  }
  if (random.chance(a.blur.probability)) {
    const double sigma = random.uniform(a.blur.range[0], a.blur.range[1]);
    image = intensity::blur(image, {sigma, sigma, sigma});
  }
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    at::Tensor x = image[ch];
    if (random.chance(a.gain.probability)) intensity::gain(x, random.uniform(a.gain.range[0], a.gain.range[1]));
    if (random.chance(a.offset.probability)) {
      intensity::offset(x, random.uniform(a.offset.range[0], a.offset.range[1]));
    }
    if (random.chance(a.contrast.probability)) {
      intensity::contrast(x, random.uniform(a.contrast.range[0], a.contrast.range[1]));
    }
    if (random.chance(a.bias_field.probability)) {
      const double strength = random.uniform(a.bias_field.range[0], a.bias_field.range[1]);
      std::array<double, 6> c{};
      for (double& v : c) v = random.uniform(-1, 1);
      intensity::bias_field(x, c, strength);
    }
  }
  if (random.chance(a.low_resolution.probability)) {
    image = intensity::low_resolution(image, random.uniform(a.low_resolution.range[0], a.low_resolution.range[1]));
  }
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    at::Tensor x = image[ch];
    const bool invert = random.chance(a.gamma_invert_probability);
    const bool gamma = random.chance(a.gamma.probability);
    if (!gamma) continue;
    intensity::gamma(x, random.uniform(a.gamma.range[0], a.gamma.range[1]), invert);
  }
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    at::Tensor x = image[ch];
    if (random.chance(a.inversion.probability)) {
      intensity::invert_body(x, random.uniform(a.inversion.range[0], a.inversion.range[1]));
    }
    if (random.chance(a.remap.probability)) {
      // Knots k / 4 moved by up to the drawn amplitude: small amplitudes
      // bend the curve, large ones reorder tissue brightness.
      const double amplitude = random.uniform(a.remap.range[0], a.remap.range[1]);
      std::vector<double> values(kRemapKnots);
      for (std::size_t k = 0; k < values.size(); ++k) {
        values[k] = static_cast<double>(k) / static_cast<double>(values.size() - 1) + random.uniform(-1, 1) * amplitude;
      }
      intensity::remap(x, values);
    }
  }
}

}  // namespace medseg::pipeline
