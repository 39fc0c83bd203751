#pragma once
// Window/level: which intensities (HU for CT, scanner units for MRI) a view
// spreads over its 256 grey levels.
//
// Formula (the plain linear ramp of VTK's window/level, with which 3D Slicer
// and ITK-SNAP display; it works for any width > 0, also for float MRI data
// with a width below 1, where DICOM's integer-oriented VOI LUT formula with
// its (width - 1) divisor breaks down):
//   lower = level - width / 2
//   grey  = clamp(floor((x - lower) * 255 / width + 0.5), 0, 255)
// so x <= lower is black (0), x >= lower + width is white (255), and the
// level itself maps to 127.5 -> 128. DICOM PS3.3 C.11.2.1.2.1 (linear VOI
// LUT) differs by a half-unit shift and a (width - 1) slope: for integer HU
// the two agree within 255 / (width - 1) grey levels at the window's ends
// (about 3 levels for the 80 HU brain window, under 1 level for widths above
// 256). NaN maps to black.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace medseg::gui {

class WindowLevel {
 public:
  /// `width` and `level` in the scan's intensity units (HU for CT). Throws
  /// medseg::ConfigError unless width > 0 and both are finite.
  WindowLevel(double width, double level);

  double width() const { return width_; }
  double level() const { return level_; }
  /// Intensity shown black (and everything below): level - width / 2.
  double lower() const { return level_ - width_ / 2.0; }
  /// Intensity shown white (and everything above): level + width / 2.
  double upper() const { return level_ + width_ / 2.0; }

  /// Grey value 0..255 of one intensity (the formula above).
  std::uint8_t grey(float intensity) const;

  /// grey() of `count` intensities from `in` into `out` (e.g. a slice from
  /// SliceGeometry::extract_slice, row-major). A branch-free loop the
  /// compiler vectorizes.
  void map(const float* in, std::int64_t count, std::uint8_t* out) const;

  bool operator==(const WindowLevel& other) const { return width_ == other.width_ && level_ == other.level_; }
  bool operator!=(const WindowLevel& other) const { return !(*this == other); }

 private:
  double width_;
  double level_;
};

/// A named CT window, in HU.
struct WindowPreset {
  std::string name;  ///< e.g. "brain"
  double width = 0;  ///< HU
  double level = 0;  ///< HU
  WindowLevel window() const { return {width, level}; }
};

/// The CT presets, in this order (width / level, HU), from Radiopaedia's
/// "Windowing (CT)" article (radiopaedia.org/articles/windowing-ct), which
/// lists the values radiology departments commonly use:
///   brain        80 /   40   (article: W:80 L:40)
///   subdural    200 /   75   (article gives ranges W:130-300 L:50-100; we
///                             take a value inside both)
///   soft tissue 400 /   40   (article: W:350-400 L:20-60)
///   bone       1800 /  400   (article: W:1800 L:400)
///   lung       1500 / -600   (article: W:1500 L:-600)
/// (3D Slicer's built-in presets differ slightly, e.g. CT-Brain 100/50,
/// CT-Lung 1400/-500; see GUI.md.)
const std::vector<WindowPreset>& ct_window_presets();

/// The preset called `name` (as in ct_window_presets()). Throws
/// medseg::ConfigError naming the known presets when there is none.
const WindowPreset& ct_window_preset(const std::string& name);

/// Auto-contrast for MRI (or any scan without a stored window): the window
/// spanning the 0.5th to 99.5th percentile of the intensities (numpy's linear
/// interpolation, via pipeline::percentile). `data` is any float32 tensor,
/// e.g. the (D, H, W) scan. Fast on large volumes: at most `max_samples`
/// voxels are used, taken at an even stride through memory (deterministic);
/// smaller volumes use every voxel, so the result is exact there. NaN and
/// infinite voxels are skipped. A constant volume gets width 1 around its
/// value, one without finite values width 1 around 0. Throws
/// medseg::ConfigError for an empty tensor.
WindowLevel auto_window(const at::Tensor& data, std::int64_t max_samples = 1 << 20);

}  // namespace medseg::gui
