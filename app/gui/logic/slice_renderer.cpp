#include "app/gui/logic/slice_renderer.h"

#include <algorithm>
#include <cmath>

namespace medseg::gui {

LabelOverlay::LabelOverlay() : color_(65536, 0xFF000000u), alpha_(65536, 0) {}

LabelOverlay::LabelOverlay(const std::vector<LabelDescription>& labels, double opacity) : LabelOverlay() {
  const double clamped = std::isfinite(opacity) ? std::clamp(opacity, 0.0, 1.0) : 0.0;
  const auto a = static_cast<std::uint8_t>(std::lround(clamped * 255.0));
  for (const LabelDescription& d : labels) {
    const auto slot = static_cast<std::uint16_t>(d.value);
    color_[slot] = 0xFF000000u | (std::uint32_t{d.color[0]} << 16) | (std::uint32_t{d.color[1]} << 8) |
                   std::uint32_t{d.color[2]};
    alpha_[slot] = d.visible && d.value != 0 ? a : 0;
  }
}

void SliceRenderer::render(const SliceGeometry& geometry, ViewKind kind, std::int64_t slice, const float* scan,
                           const std::int16_t* labels, const WindowLevel& window, const LabelOverlay& overlay,
                           std::uint32_t* out) {
  const ViewMapping& m = geometry.view(kind);
  const auto n = static_cast<std::size_t>(m.width * m.height);
  intensities_.resize(n);
  grey_.resize(n);
  geometry.extract_slice(kind, slice, scan, intensities_.data());
  window.map(intensities_.data(), static_cast<std::int64_t>(n), grey_.data());
  if (labels) {
    labels_.resize(n);
    geometry.extract_slice(kind, slice, labels, labels_.data());
  }
  for (std::size_t p = 0; p < n; ++p) {
    const std::uint32_t g = grey_[p];
    const std::uint32_t grey_pixel = 0xFF000000u | (g * 0x010101u);
    const std::int16_t value = labels ? labels_[p] : std::int16_t{0};
    const std::uint32_t a = value != 0 ? overlay.alpha(value) : 0u;
    if (a == 0) {
      out[p] = grey_pixel;
      continue;
    }
    const std::uint32_t c = overlay.color(value);
    const std::uint32_t keep = 255u - a;
    const std::uint32_t r = (g * keep + ((c >> 16) & 0xFFu) * a + 127u) / 255u;
    const std::uint32_t gr = (g * keep + ((c >> 8) & 0xFFu) * a + 127u) / 255u;
    const std::uint32_t b = (g * keep + (c & 0xFFu) * a + 127u) / 255u;
    out[p] = 0xFF000000u | (r << 16) | (gr << 8) | b;
  }
}

}  // namespace medseg::gui
