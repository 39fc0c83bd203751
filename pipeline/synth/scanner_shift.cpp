#include "pipeline/synth/scanner_shift.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "pipeline/preprocess/normalize.h"
#include "pipeline/random.h"
#include "pipeline/synth/scanner_profile.h"
#include "pipeline/train/intensity_transforms.h"

namespace medseg::pipeline {
namespace {

std::string format(const char* pattern, double a, double b, double c = 0.0, double d = 0.0) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, pattern, a, b, c, d);
  return buffer;
}

at::Tensor gaussian_noise(at::IntArrayRef sizes, double sigma, Random& random) {
  at::Tensor noise = at::empty(sizes, at::kFloat);
  float* p = noise.data_ptr<float>();
  for (std::int64_t i = 0; i < noise.numel(); ++i) p[i] = static_cast<float>(sigma * random.normal());
  return noise;
}

}  // namespace

std::vector<std::string> scanner_shift_names() {
  return {"gamma_bias", "gain_offset", "inverted", "remap", "resolution", "ct_kernel", "ct_cbct"};
}

ShiftedScan apply_scanner_shift(const at::Tensor& image_in, const std::string& kind, double spacing_mm,
                                std::uint64_t seed) {
  TORCH_CHECK(image_in.dim() == 3, "apply_scanner_shift expects a (D, H, W) volume");
  const at::Tensor image = image_in.to(at::kFloat).contiguous();
  Random random(seed * 0x9E3779B97F4A7C15ULL + 0x5851F42D4C957F2DULL);
  const at::Tensor flat = image.reshape({-1});
  const double low = percentile(flat, 0.5);
  const double high = percentile(flat, 99.5);
  const double range = high > low ? high - low : 1.0;
  ShiftedScan out;

  if (kind == "gamma_bias" || kind == "inverted") {
    const at::Tensor tissue = ((image - low) / range).clamp(0.0, 1.0).contiguous();
    const at::Tensor body = tissue > 0.05f;
    ScannerProfile profile;
    profile.gain = range;
    profile.offset = low;
    if (kind == "gamma_bias") {
      profile.gamma = std::exp(random.uniform(-0.5, 0.5));
      profile.bias = random.uniform(0.3, 0.6);
      out.parameters = format("gamma %.3f, bias %.3f", profile.gamma, profile.bias);
    } else {
      profile.invert = true;
      out.parameters = "inverted inside the body";
    }
    const at::Tensor shifted = simulate_scanner(tissue, body, profile, spacing_mm, random.bits());
    // Outside the body the scan keeps its own values (zero background stays zero).
    out.image = at::where(body, shifted, image).contiguous();
    return out;
  }
  if (kind == "gain_offset") {
    const double gain = std::exp(random.uniform(std::log(0.5), std::log(2.0)));
    const double offset = random.uniform(-0.1, 0.1) * range;
    out.image = (image * gain + offset).contiguous();
    out.parameters = format("gain %.3f, offset %.1f", gain, offset);
    return out;
  }
  if (kind == "remap" || kind == "resolution") {
    if (kind == "resolution") {
      const double zoom = random.uniform(0.35, 0.6);
      out.image = intensity::low_resolution(image.unsqueeze(0), zoom).squeeze(0).contiguous();
      out.parameters = format("zoom %.3f", zoom, 0.0);
      return out;
    }
    // Knots at u = 0, 1/4, ..., 1 of the tissue scale; background stays dark.
    std::vector<double> knots{0.0};
    for (int k = 1; k < 5; ++k) knots.push_back(random.uniform(0.1, 1.0));
    const at::Tensor u = ((image - low) / range).clamp(0.0, 1.0);
    const at::Tensor position = u * 4.0f;
    const at::Tensor index = position.floor().clamp(0, 3).to(at::kLong);
    const at::Tensor fraction = position - index.to(at::kFloat);
    const at::Tensor values = at::tensor(std::vector<float>(knots.begin(), knots.end()));
    const at::Tensor f = values.index({index}) * (1.0f - fraction) + values.index({index + 1}) * fraction;
    const at::Tensor body = u > 0.05f;
    out.image = at::where(body, f * range + low, image).contiguous();
    out.parameters = format("knots 0, %.2f, %.2f, %.2f, %.2f", knots[1], knots[2], knots[3], knots[4]);
    return out;
  }
  if (kind == "ct_kernel") {
    const double sharpen = random.uniform(0.5, 1.5);
    const double blur_mm = random.uniform(0.7, 1.2);
    const double noise = random.uniform(15.0, 35.0);
    const at::Tensor blurred = gaussian_blur(image, blur_mm / spacing_mm);
    out.image = (image + sharpen * (image - blurred) + gaussian_noise(image.sizes(), noise, random)).contiguous();
    out.parameters = format("sharpen %.2f, blur %.2f mm, noise %.1f HU", sharpen, blur_mm, noise);
    return out;
  }
  if (kind == "ct_cbct") {
    const double cupping = random.uniform(0.08, 0.18);
    const double scale = random.uniform(0.85, 1.0);
    const double shift = random.uniform(-60.0, 40.0);
    const double noise = random.uniform(20.0, 40.0);
    // In-plane (i, j) radius, 0 at the centre and 1 at the middle of each edge.
    const std::int64_t ni = image.size(2), nj = image.size(1);
    const at::Tensor ui = (at::arange(ni, at::kFloat) - 0.5f * static_cast<float>(ni - 1)) / (0.5f * static_cast<float>(ni));
    const at::Tensor uj = (at::arange(nj, at::kFloat) - 0.5f * static_cast<float>(nj - 1)) / (0.5f * static_cast<float>(nj));
    const at::Tensor r2 = (ui.view({1, 1, ni}).pow(2) + uj.view({1, nj, 1}).pow(2)).clamp_max(1.0f);
    const at::Tensor mu = (image + 1000.0f).clamp_min(0.0f) * (1.0f - static_cast<float>(cupping) * (1.0f - r2));
    out.image = (mu * scale - 1000.0f + shift + gaussian_noise(image.sizes(), noise, random)).contiguous();
    out.parameters = format("cupping %.3f, scale %.3f, shift %.1f HU, noise %.1f HU", cupping, scale, shift, noise);
    return out;
  }
  std::string known;
  for (const auto& n : scanner_shift_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown scanner shift '" + kind + "' (known: " + known + ")");
}

}  // namespace medseg::pipeline
