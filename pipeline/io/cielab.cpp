// sRGB (D65) <-> XYZ <-> CIELab (D50) with a Bradford adaptation between the
// white points, as ICC colour management does: DICOM's PCS is D50.
#include "pipeline/io/cielab.h"

#include <algorithm>
#include <cmath>

namespace medseg::pipeline {
namespace {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;

Vec3 mul(const Mat3& m, const Vec3& v) {
  return {m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
          m[6] * v[0] + m[7] * v[1] + m[8] * v[2]};
}

// Linear sRGB -> XYZ (D65), IEC 61966-2-1, and its inverse.
constexpr Mat3 kRgbToXyzD65{0.4124564, 0.3575761, 0.1804375, 0.2126729, 0.7151522,
                            0.0721750, 0.0193339, 0.1191920, 0.9503041};
constexpr Mat3 kXyzD65ToRgb{3.2404542, -1.5371385, -0.4985314, -0.9692660, 1.8760108,
                            0.0415560, 0.0556434, -0.2040259, 1.0572252};
// Bradford chromatic adaptation D65 -> D50 and back (Lindbloom).
constexpr Mat3 kD65ToD50{1.0478112, 0.0228866, -0.0501270, 0.0295424, 0.9904844,
                         -0.0170491, -0.0092345, 0.0150436, 0.7521316};
constexpr Mat3 kD50ToD65{0.9555766, -0.0230393, 0.0631636, -0.0282895, 1.0099416,
                         0.0210077, 0.0122982, -0.0204830, 1.3299098};
constexpr Vec3 kWhiteD50{0.96422, 1.0, 0.82521};

constexpr double kEpsilon = 216.0 / 24389.0;
constexpr double kKappa = 24389.0 / 27.0;

double to_linear(double c) { return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); }
double to_gamma(double c) { return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1.0 / 2.4) - 0.055; }
double f(double t) { return t > kEpsilon ? std::cbrt(t) : (kKappa * t + 16.0) / 116.0; }
double f_inv(double t) {
  const double t3 = t * t * t;
  return t3 > kEpsilon ? t3 : (116.0 * t - 16.0) / kKappa;
}

std::uint16_t scale(double value, double lo, double hi) {
  const double s = std::round((value - lo) / (hi - lo) * 65535.0);
  return static_cast<std::uint16_t>(std::clamp(s, 0.0, 65535.0));
}

}  // namespace

std::array<std::uint16_t, 3> srgb_to_dicom_lab(const std::array<std::uint8_t, 3>& rgb) {
  const Vec3 linear{to_linear(rgb[0] / 255.0), to_linear(rgb[1] / 255.0), to_linear(rgb[2] / 255.0)};
  const Vec3 xyz = mul(kD65ToD50, mul(kRgbToXyzD65, linear));
  const double fx = f(xyz[0] / kWhiteD50[0]);
  const double fy = f(xyz[1] / kWhiteD50[1]);
  const double fz = f(xyz[2] / kWhiteD50[2]);
  const double l = 116.0 * fy - 16.0;
  const double a = 500.0 * (fx - fy);
  const double b = 200.0 * (fy - fz);
  return {scale(l, 0.0, 100.0), scale(a, -128.0, 127.0), scale(b, -128.0, 127.0)};
}

std::array<std::uint8_t, 3> dicom_lab_to_srgb(const std::array<std::uint16_t, 3>& lab) {
  const double l = lab[0] / 65535.0 * 100.0;
  const double a = lab[1] / 65535.0 * 255.0 - 128.0;
  const double b = lab[2] / 65535.0 * 255.0 - 128.0;
  const double fy = (l + 16.0) / 116.0;
  const Vec3 xyz{kWhiteD50[0] * f_inv(fy + a / 500.0), kWhiteD50[1] * f_inv(fy), kWhiteD50[2] * f_inv(fy - b / 200.0)};
  const Vec3 linear = mul(kXyzD65ToRgb, mul(kD50ToD65, xyz));
  std::array<std::uint8_t, 3> rgb{};
  for (int c = 0; c < 3; ++c) {
    const double v = std::round(to_gamma(std::clamp(linear[c], 0.0, 1.0)) * 255.0);
    rgb[c] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
  }
  return rgb;
}

}  // namespace medseg::pipeline
