#pragma once
// How a simulated scanner turns tissue into intensities.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// Intensity model of a simulated scanner, applied to tissue values in
/// [0, 1] in this order: contrast inversion (inside the body), gamma,
/// multiplicative smooth bias field, Gaussian blur, Gaussian noise, then
/// `gain * v + offset`. Never changes labels.
struct ScannerProfile {
  std::string name = "clean";
  double gain = 1.0;
  double offset = 0.0;
  double gamma = 1.0;
  bool invert = false;
  /// Strength of the smooth bias field: log-field amplitude (0 = none).
  double bias = 0.0;
  /// Standard deviation of additive noise, on the [0, 1] tissue scale.
  double noise = 0.0;
  /// Gaussian blur sigma in mm (0 = none).
  double blur_mm = 0.0;
};

/// Named presets: "clean" (no artefacts), "scanner_a", "scanner_b",
/// "scanner_c" (three scanners that differ in scale, gamma, contrast
/// polarity, bias, noise and resolution). Throws ConfigError for others.
ScannerProfile scanner_profile(const std::string& name);
std::vector<std::string> scanner_profile_names();

/// Applies `profile` to `tissue` (float (D, H, W), values on a [0, 1] tissue
/// scale) in the order documented on ScannerProfile; contrast inversion only
/// inside `body` (bool, same shape). The bias field is a smooth polynomial
/// over the volume's normalized coordinates; noise and bias draw from `seed`.
at::Tensor simulate_scanner(const at::Tensor& tissue, const at::Tensor& body, const ScannerProfile& profile,
                            double spacing_mm, std::uint64_t seed);

/// Separable Gaussian blur of a float (D, H, W) volume (zero padding).
at::Tensor gaussian_blur(const at::Tensor& volume, double sigma_voxels);

/// A real scan as another scanner would show it: `image` is mapped to the
/// [0, 1] tissue scale by its 0.5 and 99.5 percentiles (clipped), the body is
/// where it exceeds 5 % of that range, then simulate_scanner() applies.
at::Tensor simulate_scanner_on_image(const at::Tensor& image, const ScannerProfile& profile, double spacing_mm,
                                     std::uint64_t seed);

}  // namespace medseg::pipeline
