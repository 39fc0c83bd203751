// Seeded scanner shifts against hand-computed expectations: gain/offset is
// exactly affine, the body-only shifts leave the background alone,
// inversion flips the correlation, the CT shifts give the HU their drawn
// parameters predict; same seed, same volume; another seed, another one.
#include "pipeline/synth/scanner_shift.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

// A head-like MRI: zero background, a ball of tissue with a gradient.
at::Tensor mri_like() {
  const at::Tensor z = at::arange(24, at::kFloat).view({24, 1, 1}).expand({24, 28, 32});
  const at::Tensor y = at::arange(28, at::kFloat).view({1, 28, 1}).expand({24, 28, 32});
  const at::Tensor x = at::arange(32, at::kFloat).view({1, 1, 32}).expand({24, 28, 32});
  const at::Tensor r2 = (z - 12).pow(2) + (y - 14).pow(2) + (x - 16).pow(2);
  return at::where(r2 < 100.0f, 200.0f + 20.0f * x, at::zeros_like(x)).contiguous();
}

double correlation(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kDouble) - a.to(at::kDouble).mean();
  const at::Tensor y = b.to(at::kDouble) - b.to(at::kDouble).mean();
  return ((x * y).sum() / (x.pow(2).sum() * y.pow(2).sum()).sqrt()).item<double>();
}

TEST(ScannerShift, SameSeedSameScanOtherSeedOtherScan) {
  const at::Tensor mri = mri_like();
  const at::Tensor ct = mri - 1000.0f;
  for (const auto& kind : scanner_shift_names()) {
    SCOPED_TRACE(kind);
    const at::Tensor& image = kind.rfind("ct_", 0) == 0 ? ct : mri;
    const ShiftedScan a = apply_scanner_shift(image, kind, 1.0, 101);
    const ShiftedScan b = apply_scanner_shift(image, kind, 1.0, 101);
    const ShiftedScan c = apply_scanner_shift(image, kind, 1.0, 102);
    EXPECT_EQ(a.image.sizes(), image.sizes());
    EXPECT_EQ(a.image.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(a.image, b.image));
    EXPECT_EQ(a.parameters, b.parameters);
    EXPECT_FALSE(at::equal(image, a.image));
    if (kind != "inverted") EXPECT_FALSE(at::equal(a.image, c.image));  // inversion draws nothing
  }
  EXPECT_THROW(apply_scanner_shift(mri, "fog", 1.0, 1), ConfigError);
}

TEST(ScannerShift, GainOffsetIsExactlyAffineWithinItsRanges) {
  const at::Tensor image = mri_like();
  const ShiftedScan s = apply_scanner_shift(image, "gain_offset", 1.0, 7);
  double gain = 0.0, offset = 0.0;
  ASSERT_EQ(std::sscanf(s.parameters.c_str(), "gain %lf, offset %lf", &gain, &offset), 2) << s.parameters;
  EXPECT_TRUE(gain >= 0.5 && gain <= 2.0) << gain;
  // The parameters are printed with 3 and 1 decimals: that rounding bounds the error.
  EXPECT_TRUE(((s.image - (image * gain + offset)).abs() <= image.abs() * 0.0005f + 0.051f).all().item<bool>());
  const double range = image.max().item<double>();  // percentiles 0 .. ~max
  EXPECT_LE(std::abs(offset), 0.1 * range);
}

TEST(ScannerShift, BodyShiftsKeepTheBackgroundAndInversionFlipsTheContrast) {
  const at::Tensor image = mri_like();
  const at::Tensor body = image > 0.0f;
  for (const char* kind : {"gamma_bias", "inverted", "remap"}) {
    SCOPED_TRACE(kind);
    const ShiftedScan s = apply_scanner_shift(image, kind, 1.0, 3);
    EXPECT_TRUE(at::equal(s.image.masked_select(~body), image.masked_select(~body)));
    const double r = correlation(image.masked_select(body), s.image.masked_select(body));
    if (std::string(kind) == "inverted") {
      EXPECT_LT(r, -0.9);
    } else if (std::string(kind) == "gamma_bias") {
      EXPECT_GT(r, 0.5);
    }
  }
}

// The remap follows its knots: a voxel at u = 1/4 of the tissue scale gets
// the second knot's value exactly.
TEST(ScannerShift, RemapFollowsItsKnotsAndResolutionKeepsTheMean) {
  at::Tensor image = at::zeros({4, 4, 8});
  image.select(2, 1).fill_(25.0f);   // u = 0.25 of the range 0..100
  image.select(2, 2).fill_(50.0f);   // u = 0.5
  image.select(2, 3).fill_(100.0f);  // u = 1
  image.select(2, 4).fill_(100.0f);
  const ShiftedScan s = apply_scanner_shift(image, "remap", 1.0, 4);
  double k1 = 0, k2 = 0, k3 = 0, k4 = 0;
  ASSERT_EQ(std::sscanf(s.parameters.c_str(), "knots 0, %lf, %lf, %lf, %lf", &k1, &k2, &k3, &k4), 4) << s.parameters;
  EXPECT_NEAR(s.image.select(2, 1).mean().item<double>(), 100.0 * k1, 0.01 * 100.0);  // knots printed to 2 digits
  EXPECT_NEAR(s.image.select(2, 2).mean().item<double>(), 100.0 * k2, 0.01 * 100.0);
  EXPECT_NEAR(s.image.select(2, 3).mean().item<double>(), 100.0 * k4, 0.01 * 100.0);
  EXPECT_TRUE(at::equal(s.image.select(2, 0), image.select(2, 0)));  // background
  const ShiftedScan r = apply_scanner_shift(mri_like(), "resolution", 1.0, 4);
  EXPECT_NEAR(r.image.mean().item<double>(), mri_like().mean().item<double>(), 0.1 * mri_like().mean().item<double>());
}

// A water cylinder (0 HU) in air: the interior of the sharpened kernel is
// water plus noise of the drawn sigma; CBCT's centre and rim follow
// a * 1000 * (1 - c (1 - r^2)) - 1000 + b.
TEST(ScannerShift, CtShiftsGiveTheHuTheirParametersPredict) {
  const std::int64_t n = 64;
  const at::Tensor water = at::zeros({16, n, n});
  const ShiftedScan kernel = apply_scanner_shift(water - 0.0f, "ct_kernel", 1.0, 11);
  double sharpen = 0, blur = 0, noise = 0;
  ASSERT_EQ(std::sscanf(kernel.parameters.c_str(), "sharpen %lf, blur %lf mm, noise %lf HU", &sharpen, &blur, &noise),
            3);
  const at::Tensor interior = kernel.image.slice(0, 5, 11).slice(1, 10, 54).slice(2, 10, 54);
  EXPECT_NEAR(interior.mean().item<double>(), 0.0, 1.0);
  EXPECT_NEAR(interior.std().item<double>(), noise, 0.05 * noise);

  const ShiftedScan cbct = apply_scanner_shift(water, "ct_cbct", 1.0, 12);
  double cupping = 0, scale = 0, shift = 0, sigma = 0;
  ASSERT_EQ(std::sscanf(cbct.parameters.c_str(), "cupping %lf, scale %lf, shift %lf HU, noise %lf HU", &cupping,
                        &scale, &shift, &sigma),
            4);
  const at::Tensor centre = cbct.image.slice(1, n / 2 - 2, n / 2 + 2).slice(2, n / 2 - 2, n / 2 + 2);
  const double expected_centre = scale * 1000.0 * (1.0 - cupping) - 1000.0 + shift;
  EXPECT_NEAR(centre.mean().item<double>(), expected_centre, 4.0 * sigma / 16.0);  // 256 voxels
  const at::Tensor corner = cbct.image.slice(1, 0, 4).slice(2, 0, 4);  // r >= 1: no cupping
  EXPECT_NEAR(corner.mean().item<double>(), scale * 1000.0 - 1000.0 + shift, 4.0 * sigma / 16.0);
}

}  // namespace
}  // namespace medseg::pipeline
