#include "pipeline/synth/scanner_profile.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>

#include "core/error.h"
#include "pipeline/preprocess/normalize.h"
#include "pipeline/random.h"

namespace medseg::pipeline {

ScannerProfile scanner_profile(const std::string& name) {
  ScannerProfile p;
  p.name = name;
  if (name == "clean") return p;
  if (name == "scanner_a") {  // MR-like units, mild bias
    p.gain = 1000.0;
    p.bias = 0.1;
    p.noise = 0.03;
    return p;
  }
  if (name == "scanner_b") {  // other scale and offset, compressed contrast, blurrier
    p.gain = 400.0;
    p.offset = 100.0;
    p.gamma = 0.6;
    p.bias = 0.25;
    p.noise = 0.05;
    p.blur_mm = 1.0;
    return p;
  }
  if (name == "scanner_c") {  // inverted contrast (T2-like), expanded contrast
    p.gain = 800.0;
    p.offset = -50.0;
    p.gamma = 1.4;
    p.invert = true;
    p.bias = 0.15;
    p.noise = 0.04;
    p.blur_mm = 0.5;
    return p;
  }
  std::string known;
  for (const auto& n : scanner_profile_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown scanner profile '" + name + "' (known: " + known + ")");
}

std::vector<std::string> scanner_profile_names() {
  return {"clean", "scanner_a", "scanner_b", "scanner_c"};
}

at::Tensor gaussian_blur(const at::Tensor& volume, double sigma_voxels) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * sigma_voxels)));
  at::Tensor k = at::arange(-radius, radius + 1, at::kFloat);
  k = at::exp(-0.5 * (k / sigma_voxels).pow(2));
  k = k / k.sum();
  at::Tensor x = volume.unsqueeze(0).unsqueeze(0);
  x = at::conv3d(x, k.view({1, 1, -1, 1, 1}), {}, 1, {radius, 0, 0});
  x = at::conv3d(x, k.view({1, 1, 1, -1, 1}), {}, 1, {0, radius, 0});
  x = at::conv3d(x, k.view({1, 1, 1, 1, -1}), {}, 1, {0, 0, radius});
  return x.squeeze(0).squeeze(0);
}

at::Tensor simulate_scanner(const at::Tensor& tissue, const at::Tensor& body, const ScannerProfile& profile,
                            double spacing_mm, std::uint64_t seed) {
  Random scan_rng(seed);
  at::Tensor v = tissue;
  if (profile.invert) v = at::where(body, 1.1f - v, v);
  if (profile.gamma != 1.0) v = v.clamp_min(0.0).pow(profile.gamma);
  if (profile.bias != 0.0) {
    // Normalized coordinates in (-1, 1) along each axis (index order i, j, k).
    std::array<at::Tensor, 3> n{};
    for (int d = 0; d < 3; ++d) {
      const std::int64_t size = v.size(2 - d);
      at::Tensor a = (at::arange(size, at::kDouble) - 0.5 * static_cast<double>(size - 1)) /
                     (0.5 * static_cast<double>(size));
      std::vector<std::int64_t> shape{1, 1, 1};
      shape[static_cast<std::size_t>(2 - d)] = size;
      n[d] = a.view(shape).expand(v.sizes());
    }
    at::Tensor log_field = at::zeros(v.sizes(), at::kDouble);
    const std::array<at::Tensor, 6> terms{n[0], n[1], n[2], n[0] * n[1], n[1] * n[2], n[0] * n[2]};
    for (const auto& t : terms) log_field = log_field + scan_rng.uniform(-1, 1) * t;
    v = v * at::exp(profile.bias * log_field / 2.0).to(at::kFloat);
  }
  if (profile.blur_mm > 0.0) v = gaussian_blur(v, profile.blur_mm / spacing_mm);
  if (profile.noise > 0.0) {
    at::Tensor noise = at::empty(v.sizes(), at::kFloat);
    float* p = noise.data_ptr<float>();
    for (std::int64_t i = 0; i < noise.numel(); ++i) p[i] = static_cast<float>(scan_rng.normal());
    v = v + static_cast<float>(profile.noise) * noise;
  }
  return (v * profile.gain + profile.offset).to(at::kFloat).contiguous();
}

at::Tensor simulate_scanner_on_image(const at::Tensor& image, const ScannerProfile& profile, double spacing_mm,
                                     std::uint64_t seed) {
  const at::Tensor flat = image.to(at::kFloat).reshape({-1});
  const double low = percentile(flat, 0.5);
  const double high = percentile(flat, 99.5);
  const double range = high > low ? high - low : 1.0;
  const at::Tensor tissue = ((image.to(at::kFloat) - low) / range).clamp(0.0, 1.0).contiguous();
  return simulate_scanner(tissue, tissue > 0.05f, profile, spacing_mm, seed);
}

}  // namespace medseg::pipeline
