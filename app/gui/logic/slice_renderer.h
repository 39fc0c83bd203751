#pragma once
// Turns one slice of a scan and its label map into the pixels a view paints:
// extract (SliceGeometry), window/level to grey (WindowLevel), blend the
// label colours on top. The Qt view wraps the result in a QImage
// (Format_RGB32) and only scales it by the physical aspect; nothing here
// allocates per draw once the buffers have grown to the largest view.
#include <array>
#include <cstdint>
#include <vector>

#include "app/gui/logic/label_description.h"
#include "app/gui/logic/slice_geometry.h"
#include "app/gui/logic/window_level.h"

namespace medseg::gui {

/// Colour and opacity of every label value, as lookup tables (int16 value
/// -> colour), so that blending costs two table reads per labelled pixel.
class LabelOverlay {
 public:
  /// No label drawn.
  LabelOverlay();
  /// Every visible description drawn in its colour with `opacity` (0..1,
  /// clamped; 0 draws nothing, 1 covers the scan). Values without a
  /// description and invisible labels are not drawn.
  LabelOverlay(const std::vector<LabelDescription>& labels, double opacity);

  /// 0xFFRRGGBB colour of a label value.
  std::uint32_t color(std::int16_t value) const { return color_[static_cast<std::uint16_t>(value)]; }
  /// Opacity 0..255 of a label value (0 = not drawn).
  std::uint8_t alpha(std::int16_t value) const { return alpha_[static_cast<std::uint16_t>(value)]; }

 private:
  std::vector<std::uint32_t> color_;  ///< 65536 entries, indexed by the value's 16 bits
  std::vector<std::uint8_t> alpha_;
};

/// Draws slices; keeps its scratch buffers between calls (one per view is
/// the intended use, so views never share them across threads).
class SliceRenderer {
 public:
  /// Renders slice `slice` of view `kind` into `out`: width x height pixels
  /// of the view (SliceGeometry::view), row-major in screen order, each
  /// 0xFFRRGGBB (QImage::Format_RGB32). `scan` is the float32 (D, H, W)
  /// buffer, `labels` the int16 (D, H, W) label map or nullptr for none.
  /// A pixel with grey g under a label with colour c and opacity a (0..255)
  /// becomes, per channel, (g * (255 - a) + c * a + 127) / 255 (integer
  /// division: rounded to nearest). Throws medseg::IoError for a slice
  /// outside the view.
  void render(const SliceGeometry& geometry, ViewKind kind, std::int64_t slice, const float* scan,
              const std::int16_t* labels, const WindowLevel& window, const LabelOverlay& overlay,
              std::uint32_t* out);

 private:
  std::vector<float> intensities_;
  std::vector<std::uint8_t> grey_;
  std::vector<std::int16_t> labels_;
};

}  // namespace medseg::gui
