#include "pipeline/train/augmenter.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace medseg::pipeline {
namespace {

// Tensor dim of index axis a in a (.., D, H, W) tensor with `lead` leading dims.
std::int64_t dim_of(int axis, std::int64_t lead) { return lead + 2 - axis; }

at::Tensor gaussian_blur_3d(const at::Tensor& x, const std::array<double, 3>& sigma) {
  // x: (C, D, H, W); separable, zero padded (patches are normalized, so zero
  // is the mean intensity, a mild edge effect).
  at::Tensor y = x.unsqueeze(1);
  for (int axis = 0; axis < 3; ++axis) {
    if (sigma[axis] <= 0.0) continue;
    const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * sigma[axis])));
    at::Tensor k = at::arange(-radius, radius + 1, at::kFloat);
    k = at::exp(-0.5 * (k / sigma[axis]).pow(2));
    k = k / k.sum();
    std::vector<std::int64_t> shape{1, 1, 1, 1, 1}, pad{0, 0, 0};
    shape[static_cast<std::size_t>(dim_of(axis, 2))] = 2 * radius + 1;
    pad[static_cast<std::size_t>(2 - axis)] = radius;
    y = at::conv3d(y, k.view(shape), {}, 1, pad);
  }
  return y.squeeze(1);
}

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

Patch Augmenter::operator()(const TrainingCase& c, const PatchLocation& location, Random& random) const {
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
  augment_intensity(p.image, random);
  return p;
}

void Augmenter::augment_intensity(at::Tensor& image, Random& random) const {
  const AugmentationConfig& a = config_;
  if (!a.enabled) return;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(random.bits());
  const std::int64_t channels = image.size(0);
  if (random.chance(a.noise.probability)) {
    const double variance = random.uniform(a.noise.range[0], a.noise.range[1]);
    image.add_(at::randn(image.sizes(), generator) * std::sqrt(variance));
  }
  if (random.chance(a.blur.probability)) {
    const double sigma = random.uniform(a.blur.range[0], a.blur.range[1]);
    image = gaussian_blur_3d(image, {sigma, sigma, sigma}).contiguous();
  }
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    at::Tensor x = image[ch];
    if (random.chance(a.gain.probability)) x.mul_(random.uniform(a.gain.range[0], a.gain.range[1]));
    if (random.chance(a.offset.probability)) x.add_(random.uniform(a.offset.range[0], a.offset.range[1]));
    if (random.chance(a.contrast.probability)) {
      // nnU-Net's contrast: stretch about the mean, keep the value range.
      const double f = random.uniform(a.contrast.range[0], a.contrast.range[1]);
      const auto mean = x.mean().item<double>();
      const auto lo = x.min().item<double>(), hi = x.max().item<double>();
      x.sub_(mean).mul_(f).add_(mean).clamp_(lo, hi);
    }
    if (random.chance(a.bias_field.probability)) {
      // Smooth multiplicative field exp(a * p(x, y, z)) with p a random
      // second-order polynomial, applied to the signal above the minimum.
      const double strength = random.uniform(a.bias_field.range[0], a.bias_field.range[1]);
      const auto lin = [&](std::int64_t n) { return at::linspace(-1, 1, n, at::kFloat); };
      const at::Tensor z = lin(x.size(0)).view({-1, 1, 1}), y = lin(x.size(1)).view({1, -1, 1});
      const at::Tensor w = lin(x.size(2)).view({1, 1, -1});
      at::Tensor field = z * random.uniform(-1, 1) + y * random.uniform(-1, 1) + w * random.uniform(-1, 1) +
                         z * y * random.uniform(-1, 1) + y * w * random.uniform(-1, 1) +
                         z * w * random.uniform(-1, 1);
      const auto lo = x.min().item<double>();
      x.sub_(lo).mul_(at::exp(field * strength)).add_(lo);
    }
  }
  if (random.chance(a.low_resolution.probability)) {
    const double zoom = random.uniform(a.low_resolution.range[0], a.low_resolution.range[1]);
    std::vector<std::int64_t> small;
    for (std::int64_t d = 1; d < 4; ++d) {
      small.push_back(std::max<std::int64_t>(1, std::llround(static_cast<double>(image.size(d)) * zoom)));
    }
    const at::Tensor down = at::upsample_nearest3d(image.unsqueeze(0), small);
    image = at::upsample_trilinear3d(down, {image.size(1), image.size(2), image.size(3)}, false)
                .squeeze(0)
                .contiguous();
  }
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    at::Tensor x = image[ch];
    const bool invert = random.chance(a.gamma_invert_probability);
    const bool gamma = random.chance(a.gamma.probability);
    if (!gamma) continue;
    // nnU-Net's gamma: on the value range, keeping mean and std; on the
    // inverted image it brightens dark structures instead.
    const double g = random.uniform(a.gamma.range[0], a.gamma.range[1]);
    if (invert) x.neg_();
    const auto mean = x.mean().item<double>(), std = x.std().item<double>();
    const auto lo = x.min().item<double>(), range = x.max().item<double>() - lo;
    x.sub_(lo).div_(range + 1e-7).pow_(g).mul_(range + 1e-7).add_(lo);
    const auto new_std = x.std().item<double>();
    x.sub_(x.mean().item<double>()).mul_(std / (new_std + 1e-8)).add_(mean);
    if (invert) x.neg_();
  }
}

}  // namespace medseg::pipeline
