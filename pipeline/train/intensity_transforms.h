#pragma once
// The intensity transforms of training augmentation, each a plain function of
// its parameters (the Augmenter draws them), so that each can be checked
// against a hand computation. They imitate what another scanner does to the
// same anatomy; none of them ever sees or changes labels.
#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

namespace medseg::pipeline::intensity {

/// x <- g * x (scanner gain).
void gain(at::Tensor& x, double g);
/// x <- x + o (scanner offset; patches are standardized, so o is in standard deviations).
void offset(at::Tensor& x, double o);
/// nnU-Net's contrast: x <- clamp(mean + f (x - mean), min, max) with the
/// mean, min and max of x before the change.
void contrast(at::Tensor& x, double f);
/// nnU-Net's gamma on the value range: u = (x - min) / (max - min),
/// x <- min + (max - min) u^g, then mean and standard deviation restored to
/// their values before. With `invert` it runs on -x (brightens dark
/// structures instead).
void gamma(at::Tensor& x, double g, bool invert);
/// The smooth log-field p = c0 z + c1 y + c2 w + c3 z y + c4 y w + c5 z w on
/// coordinates linspace(-1, 1) along each axis of a (D, H, W) volume (z along
/// D, y along H, w along W): the same second-order polynomial the simulated
/// scanners (pipeline/synth/scanner_profile) use for coil inhomogeneity.
at::Tensor polynomial_log_field(at::IntArrayRef sizes, const std::array<double, 6>& c);
/// Multiplicative bias field on the signal above the minimum:
/// x <- min + (x - min) exp(strength * p) with p from polynomial_log_field.
void bias_field(at::Tensor& x, const std::array<double, 6>& c, double strength);
/// Contrast inversion inside the body (what an inverted-contrast scanner
/// does: background stays dark, dark tissue turns bright). With lo, hi the
/// minimum and maximum of x, the body is x > lo + 0.05 (hi - lo); there
/// x <- (1 - w) x + w (lo + hi - x). Mean and standard deviation are then
/// restored to their values before (inference standardizes each scan).
void invert_body(at::Tensor& x, double w);
/// Non-monotone intensity remap: u = (x - lo) / (hi - lo) on [0, 1] is sent
/// through the piecewise-linear curve through the knots (k / (K - 1), v_k),
/// k = 0 .. K - 1 (K = values.size() >= 2), x <- lo + (hi - lo) f(u); then
/// mean and standard deviation restored. Knot values out of order make it
/// non-monotone (tissues swap brightness, as between MRI contrasts).
void remap(at::Tensor& x, const std::vector<double>& values);
/// Separable Gaussian blur of a (C, D, H, W) image, sigma in voxels per axis
/// (i, j, k), zero padded; a sigma <= 0 leaves that axis alone.
at::Tensor blur(const at::Tensor& image, const std::array<double, 3>& sigma);
/// A lower-resolution acquisition: (C, D, H, W) down-sampled by `zoom` with
/// nearest neighbour (round(size * zoom) voxels, at least 1), then back to
/// the original size with trilinear interpolation (align_corners false).
at::Tensor low_resolution(const at::Tensor& image, double zoom);

}  // namespace medseg::pipeline::intensity
