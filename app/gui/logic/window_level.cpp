#include "app/gui/logic/window_level.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/preprocess/normalize.h"

namespace medseg::gui {

WindowLevel::WindowLevel(double width, double level) : width_(width), level_(level) {
  if (!(std::isfinite(width) && std::isfinite(level) && width > 0)) {
    throw ConfigError("window/level: width " + std::to_string(width) + ", level " + std::to_string(level) +
                      " (expected a finite width > 0 and a finite level)");
  }
}

std::uint8_t WindowLevel::grey(float intensity) const {
  std::uint8_t out = 0;
  map(&intensity, 1, &out);
  return out;
}

void WindowLevel::map(const float* in, std::int64_t count, std::uint8_t* out) const {
  // grey = floor((x - lower) * 255 / width + 0.5) = floor(x * scale + offset),
  // in float so that the loop vectorizes (8 or 16 lanes); float's relative
  // precision (6e-8) keeps the error far below one grey level for HU values.
  const auto scale = static_cast<float>(255.0 / width_);
  const auto offset = static_cast<float>(0.5 - lower() * 255.0 / width_);
  for (std::int64_t n = 0; n < count; ++n) {
    float g = in[n] * scale + offset;
    g = g > 0.0f ? g : 0.0f;  // also maps NaN to 0: comparisons with NaN are false
    g = g < 255.0f ? g : 255.0f;
    out[n] = static_cast<std::uint8_t>(static_cast<int>(g));  // truncation == floor for g >= 0
  }
}

const std::vector<WindowPreset>& ct_window_presets() {
  // Width / level in HU; sources and choices in the header.
  static const std::vector<WindowPreset> presets{
      {"brain", 80.0, 40.0},
      {"subdural", 200.0, 75.0},
      {"soft tissue", 400.0, 40.0},
      {"bone", 1800.0, 400.0},
      {"lung", 1500.0, -600.0},
  };
  return presets;
}

const WindowPreset& ct_window_preset(const std::string& name) {
  std::string known;
  for (const WindowPreset& p : ct_window_presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw ConfigError("unknown CT window preset '" + name + "' (expected one of: " + known + ")");
}

WindowLevel auto_window(const at::Tensor& data, std::int64_t max_samples) {
  const at::Tensor flat = data.to(at::kFloat).contiguous().reshape({-1});
  const std::int64_t n = flat.numel();
  if (n == 0) throw ConfigError("auto window/level of an empty volume");
  if (max_samples < 1) max_samples = 1;
  // An even stride through memory samples every slice and every row alike.
  const std::int64_t step = (n + max_samples - 1) / max_samples;
  const float* p = flat.data_ptr<float>();
  std::vector<float> sample;
  sample.reserve(static_cast<std::size_t>(n / step + 1));
  for (std::int64_t k = 0; k < n; k += step) {
    if (std::isfinite(p[k])) sample.push_back(p[k]);
  }
  if (sample.empty()) return {1.0, 0.0};
  const at::Tensor values =
      at::from_blob(sample.data(), {static_cast<std::int64_t>(sample.size())}, at::kFloat);
  const double lo = pipeline::percentile(values, 0.5);
  const double hi = pipeline::percentile(values, 99.5);
  if (!(hi > lo)) return {1.0, lo};
  return {hi - lo, (lo + hi) / 2.0};
}

}  // namespace medseg::gui
