#include "pipeline/train/intensity_transforms.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace medseg::pipeline::intensity {
namespace {

// Mean and standard deviation back to (mean, std) after a transform that
// must not change them (inference standardizes every scan anyway).
void restore_moments(at::Tensor& x, double mean, double std) {
  const auto new_std = x.std().item<double>();
  x.sub_(x.mean().item<double>()).mul_(std / (new_std + 1e-8)).add_(mean);
}

}  // namespace

void gain(at::Tensor& x, double g) { x.mul_(g); }

void offset(at::Tensor& x, double o) { x.add_(o); }

void contrast(at::Tensor& x, double f) {
  const auto mean = x.mean().item<double>();
  const auto lo = x.min().item<double>(), hi = x.max().item<double>();
  x.sub_(mean).mul_(f).add_(mean).clamp_(lo, hi);
}

void gamma(at::Tensor& x, double g, bool invert) {
  if (invert) x.neg_();
  const auto mean = x.mean().item<double>(), std = x.std().item<double>();
  const auto lo = x.min().item<double>(), range = x.max().item<double>() - lo;
  x.sub_(lo).div_(range + 1e-7).pow_(g).mul_(range + 1e-7).add_(lo);
  restore_moments(x, mean, std);
  if (invert) x.neg_();
}

at::Tensor polynomial_log_field(at::IntArrayRef sizes, const std::array<double, 6>& c) {
  const auto lin = [](std::int64_t n) { return at::linspace(-1, 1, n, at::kFloat); };
  const at::Tensor z = lin(sizes[0]).view({-1, 1, 1}), y = lin(sizes[1]).view({1, -1, 1});
  const at::Tensor w = lin(sizes[2]).view({1, 1, -1});
  return z * c[0] + y * c[1] + w * c[2] + z * y * c[3] + y * w * c[4] + z * w * c[5];
}

void bias_field(at::Tensor& x, const std::array<double, 6>& c, double strength) {
  const at::Tensor field = polynomial_log_field(x.sizes(), c);
  const auto lo = x.min().item<double>();
  x.sub_(lo).mul_(at::exp(field * strength)).add_(lo);
}

void invert_body(at::Tensor& x, double w) {
  const auto mean = x.mean().item<double>(), std = x.std().item<double>();
  const auto lo = x.min().item<double>(), hi = x.max().item<double>();
  const at::Tensor body = x > lo + 0.05 * (hi - lo);
  const at::Tensor inverted = x * (1.0 - w) + (lo + hi - x) * w;
  x.copy_(at::where(body, inverted, x));
  restore_moments(x, mean, std);
}

void remap(at::Tensor& x, const std::vector<double>& values) {
  if (values.size() < 2) throw ModelError("intensity remap needs at least two knots");
  const auto mean = x.mean().item<double>(), std = x.std().item<double>();
  const auto lo = x.min().item<double>(), hi = x.max().item<double>();
  const double range = hi - lo;
  if (!(range > 0.0)) return;  // a constant patch has nothing to remap
  const auto segments = static_cast<std::int64_t>(values.size()) - 1;
  // Segment index and position inside it, for every voxel.
  const at::Tensor t = ((x - lo) / range).clamp(0.0, 1.0) * static_cast<double>(segments);
  const at::Tensor k = t.floor().clamp_max(static_cast<double>(segments - 1)).to(at::kLong);
  const at::Tensor frac = t - k.to(at::kFloat);
  const at::Tensor v = at::tensor(std::vector<float>(values.begin(), values.end()), at::kFloat);
  const at::Tensor left = v.index_select(0, k.reshape({-1})).view_as(x);
  const at::Tensor right = v.index_select(0, (k + 1).reshape({-1})).view_as(x);
  x.copy_((left + (right - left) * frac) * range + lo);
  restore_moments(x, mean, std);
}

at::Tensor blur(const at::Tensor& image, const std::array<double, 3>& sigma) {
  // Tensor dim of index axis a in a (C', 1, D, H, W) tensor: 4 - a.
  at::Tensor y = image.unsqueeze(1);
  for (int axis = 0; axis < 3; ++axis) {
    if (sigma[axis] <= 0.0) continue;
    const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * sigma[axis])));
    at::Tensor k = at::arange(-radius, radius + 1, at::kFloat);
    k = at::exp(-0.5 * (k / sigma[axis]).pow(2));
    k = k / k.sum();
    std::vector<std::int64_t> shape{1, 1, 1, 1, 1}, pad{0, 0, 0};
    shape[static_cast<std::size_t>(4 - axis)] = 2 * radius + 1;
    pad[static_cast<std::size_t>(2 - axis)] = radius;
    y = at::conv3d(y, k.view(shape), {}, 1, pad);
  }
  return y.squeeze(1).contiguous();
}

at::Tensor low_resolution(const at::Tensor& image, double zoom) {
  std::vector<std::int64_t> small;
  for (std::int64_t d = 1; d < 4; ++d) {
    small.push_back(std::max<std::int64_t>(1, std::llround(static_cast<double>(image.size(d)) * zoom)));
  }
  const at::Tensor down = at::upsample_nearest3d(image.unsqueeze(0), small);
  return at::upsample_trilinear3d(down, {image.size(1), image.size(2), image.size(3)}, false)
      .squeeze(0)
      .contiguous();
}

}  // namespace medseg::pipeline::intensity
