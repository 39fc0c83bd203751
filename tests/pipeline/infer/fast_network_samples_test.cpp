// The fast inference path (batch norm folded into the convolutions, windows
// without body skipped) against the reference path (the trained UNet3d on
// every window) with the two shipped bundles on the samples they were
// trained for, in float32: same labels, probabilities within rounding.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/bundle.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"
#include "tests/pipeline/common/test_files.h"
#include "tests/pipeline/infer/infer_helpers.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;

void expect_fast_path_agrees(const std::string& bundle, const std::string& image) {
  const fs::path model = test::samples_dir() / "models" / bundle;
  const fs::path input = test::samples_dir() / image;
  MEDSEG_REQUIRE_FILE(input);
  const Segmenter segmenter(models::load_bundle(model));
  const Volume volume = read_volume(input);
  SegmentOptions o = test_infer::fp32();
  o.probabilities = true;
  const Segmentation fast = segmenter.segment({volume}, o);
  o.reference_network = true;
  o.skip_empty_windows = false;
  const Segmentation reference = segmenter.segment({volume}, o);

  const double agreement = fast.labels.data.eq(reference.labels.data).to(torch::kDouble).mean().item<double>();
  const double max_diff = (fast.probabilities->data - reference.probabilities->data).abs().max().item<double>();
  std::cout << bundle << ": " << fast.windows.skipped << " of " << fast.windows.windows
            << " windows skipped, label agreement " << agreement << ", max |probability difference| " << max_diff
            << "\n";
  EXPECT_EQ(fast.windows.windows, reference.windows.windows);
  EXPECT_EQ(reference.windows.skipped, 0);
  EXPECT_EQ(agreement, 1.0);
  EXPECT_LT(max_diff, 1e-4);
}

TEST(FastNetworkSamples, CtHeadAgreesWithTheReferencePath) {
  expect_fast_path_agrees("ct_head", "ct/head_ct.nii.gz");
}

TEST(FastNetworkSamples, BrainMriAgreesWithTheReferencePath) {
  expect_fast_path_agrees("brain_mri_t1", "mri/t1.nii.gz");
}

}  // namespace
}  // namespace medseg::pipeline
