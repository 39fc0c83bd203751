#include "pipeline/preprocess/preprocessor.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/grid_compare.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/orientation.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {

NormalizationRecipe recipe(const std::string& kind) {
  NormalizationRecipe r;
  r.kind = parse_normalization_kind(kind);
  return r;
}
namespace fs = std::filesystem;

void expect_exact_grid(const Geometry& a, const Geometry& b) {
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.spacing, b.spacing);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.direction, b.direction);
}

double dice(const at::Tensor& a, const at::Tensor& b, int label) {
  const at::Tensor x = a == label, y = b == label;
  return 2.0 * (x & y).sum().item<double>() / (x.sum().item<double>() + y.sum().item<double>());
}

PreprocessingPlan plan(std::array<double, 3> spacing, const char* norm = "zscore") {
  PreprocessingPlan p;
  p.orientation = "RAS";
  p.target_spacing = spacing;
  p.normalization = {recipe(norm)};
  return p;
}

TEST(Preprocessor, NeverWritesIntoTheCallersVoxels) {
  // Normalization runs in place on the preprocessor's own copy; without a
  // reorientation or crop to make that copy, it must make one itself.
  Volume v;
  v.geometry.size = {6, 5, 4};
  v.data = at::arange(120, at::kFloat).reshape({4, 5, 6}) + 1.0f;
  const at::Tensor before = v.data.clone();
  for (const char* orientation : {"", "LPS", "RAS"}) {
    PreprocessingPlan p = plan({0.0, 0.0, 0.0});
    p.orientation = orientation;
    p.crop_to_nonzero = true;
    const PreprocessedCase c = Preprocessor(p)({v});
    EXPECT_TRUE(at::equal(v.data, before)) << "orientation '" << orientation << "'";
    EXPECT_NEAR(c.image.data.mean().item<double>(), 0.0, 1e-5);  // z-scored
  }
}

TEST(Preprocessor, CtSampleRoundTripIsExactWhenResamplingIsIdentity) {
  const Volume ct = read_volume(test::samples_dir() / "ct/head_ct.nii.gz");
  const Volume labels = read_volume(test::samples_dir() / "ct/head_ct_labels.nii.gz");
  const Preprocessor pre(plan({2.0, 2.0, 2.0}));
  const PreprocessedCase c = pre({ct}, &labels);
  EXPECT_EQ(orientation_code(c.image.geometry.direction), "RAS");
  ASSERT_TRUE(c.labels.has_value());
  ASSERT_EQ(c.records.size(), 3u);
  const Volume back = pre.restore(*c.labels, c.records, VolumeKind::kLabels);
  expect_exact_grid(back.geometry, labels.geometry);
  EXPECT_TRUE(at::equal(back.data, labels.data));
}

TEST(Preprocessor, ResampledPredictionReturnsToTheInputGrid) {
  const Volume t1 = read_volume(test::samples_dir() / "mri/t1.nii.gz");
  const Volume mask = read_volume(test::samples_dir() / "mri/brain_mask.nii.gz");
  const Preprocessor pre(plan({3.0, 3.0, 3.0}));
  const PreprocessedCase c = pre({t1}, &mask);
  EXPECT_NEAR(c.image.geometry.spacing[0], 3.0, 1e-12);
  EXPECT_EQ(c.image.data.dim(), 4);
  const Volume back = pre.restore(*c.labels, c.records, VolumeKind::kLabels);
  expect_exact_grid(back.geometry, mask.geometry);
  EXPECT_GT(dice(back.data, mask.data, 1), 0.95);

  // Probability maps go back too, and keep summing to one.
  Volume prob = *c.labels;
  const at::Tensor fg = (c.labels->data == 1).to(at::kFloat);
  prob.data = at::stack({1.0f - fg, fg});
  const Volume prob_back = pre.restore(prob, c.records, VolumeKind::kProbabilities);
  expect_exact_grid(prob_back.geometry, mask.geometry);
  EXPECT_TRUE(at::allclose(prob_back.data.sum(0), at::ones_like(mask.data), 1e-5, 1e-5));
  EXPECT_GT(dice(prob_back.data.argmax(0).to(at::kFloat), mask.data, 1), 0.95);
}

TEST(Preprocessor, ObliqueDicomSeriesReadPreprocessRestoreWriteKeepsTheGrid) {
  MEDSEG_REQUIRE_FILE(test::nibabel_data_dir() / "0.dcm");
  test::TempDir dir;
  fs::create_directories(dir / "dicom");
  fs::copy_file(test::nibabel_data_dir() / "0.dcm", dir / "dicom/0.dcm");
  fs::copy_file(test::nibabel_data_dir() / "1.dcm", dir / "dicom/1.dcm");
  const Volume v = read_volume(dir / "dicom");
  const Preprocessor pre(plan({4.0, 4.0, 3.0}));
  const PreprocessedCase c = pre({v});
  Volume prediction = c.image;
  prediction.data = (c.image.data[0] > 0).to(at::kFloat);
  const Volume back = pre.restore(prediction, c.records, VolumeKind::kLabels);
  write_volume(back, dir / "pred.nii.gz", PixelType::kUInt8);
  const Volume written = read_volume(dir / "pred.nii.gz");
  // NIfTI stores the affine in float32: compare at that precision.
  EXPECT_EQ(grid_difference(written.geometry, v.geometry, {1e-4, 1e-3, 1e-6}), "");
  expect_exact_grid(back.geometry, v.geometry);
}

TEST(Preprocessor, MultiChannelCasesAreStackedAndNormalizedPerChannel) {
  const Volume t1 = read_volume(test::samples_dir() / "mri/t1.nii.gz");
  Volume scaled = t1;
  scaled.data = t1.data * 3.0f + 100.0f;
  PreprocessingPlan p = plan({0.0, 0.0, 0.0});
  NormalizationRecipe zscore;
  zscore.kind = NormalizationKind::kZscore;
  p.normalization = {zscore, zscore};
  const PreprocessedCase c = Preprocessor(p)({t1, scaled});
  ASSERT_EQ(c.image.data.size(0), 2);
  // z-score removes gain and offset: both channels end up identical.
  EXPECT_TRUE(at::allclose(c.image.data[0], c.image.data[1], 1e-4, 1e-4));
}

TEST(Preprocessor, GridMismatchBetweenImageAndLabelsNamesBothFiles) {
  Volume image = read_volume(test::samples_dir() / "mri/t1.nii.gz");
  Volume labels = image;
  labels.source_path = "labels.nii.gz";
  labels.geometry.origin[2] += 5.0;
  try {
    Preprocessor(plan({2, 2, 2}))({image}, &labels);
    FAIL() << "no error";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("labels.nii.gz"), std::string::npos) << msg;
    EXPECT_NE(msg.find("t1.nii.gz"), std::string::npos) << msg;
    EXPECT_NE(msg.find("origin"), std::string::npos) << msg;
  }
}

TEST(Preprocessor, InvalidPlansAreConfigErrors) {
  EXPECT_THROW(Preprocessor(plan({1, -1, 1})), ConfigError);
  PreprocessingPlan p = plan({1, 1, 1});
  p.orientation = "XYZ";
  EXPECT_THROW(Preprocessor{p}, ConfigError);
  p = plan({1, 1, 1});
  p.normalization.clear();
  EXPECT_THROW(Preprocessor{p}, ConfigError);
}

}  // namespace
}  // namespace medseg::pipeline
