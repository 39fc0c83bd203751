#pragma once
// Seeded scanner shifts of real scans for the scanner-shift benchmark
// (bench/scanner_shift.sh): each kind draws its parameters from a seed, so
// one set of seeds can tune methods and another, held back, can judge them.
// Unlike the scanner profiles (scanner_profile.h), a shift keeps the scan's
// own units: an MRI stays on its intensity range, a CT stays in HU, so the
// model's own normalization sees what a new scanner would give it.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// gamma_bias, gain_offset, inverted, remap (MRI-like); resolution (any);
/// ct_kernel, ct_cbct (CT, HU).
std::vector<std::string> scanner_shift_names();

struct ShiftedScan {
  at::Tensor image;  ///< float32, same shape as the input
  /// The drawn parameters, e.g. "gamma 1.31, bias 0.42" (for the record).
  std::string parameters;
};

/// `image` (D, H, W) seen through shift `kind` with parameters drawn from
/// `seed`:
///  - gamma_bias: inside the body (above 5 % of the 0.5–99.5 percentile
///    range), tissue t in [0, 1] goes to t^γ times a smooth bias field,
///    γ = e^U(−0.5, 0.5), bias amplitude U(0.3, 0.6); back in the scan's units.
///  - gain_offset: g·x + o for the whole image, g = e^U(ln 0.5, ln 2),
///    o = U(−0.1, 0.1) × the percentile range.
///  - inverted: contrast inverted inside the body (T1 → T2-like), back in
///    the scan's units.
///  - remap: a non-monotone piecewise-linear map of the tissue scale inside
///    the body, knots at 0, ¼, ½, ¾, 1 with values 0 and four U(0.1, 1)
///    (tissues swap brightness, as between MRI contrasts).
///  - resolution: a thicker acquisition, down-sampled by zoom U(0.35, 0.6)
///    (nearest) and back up (trilinear), train/intensity_transforms.h.
///  - ct_kernel: a sharper reconstruction kernel, x + s·(x − blur(x)),
///    s = U(0.5, 1.5), blur σ = U(0.7, 1.2) mm, plus Gaussian noise
///    σ = U(15, 35) HU.
///  - ct_cbct: attenuation μ = HU + 1000 (≥ 0) with cupping μ·(1 − c·(1 − r²))
///    (r: in-plane distance from the centre, 1 at the edge), c = U(0.08, 0.18),
///    then HU' = a·μ − 1000 + b, a = U(0.85, 1.0), b = U(−60, 40), plus noise
///    σ = U(20, 40) HU.
/// `spacing_mm` is the mean voxel spacing. Throws ConfigError for an unknown kind.
ShiftedScan apply_scanner_shift(const at::Tensor& image, const std::string& kind, double spacing_mm,
                                std::uint64_t seed);

}  // namespace medseg::pipeline
