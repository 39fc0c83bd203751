// Segmenter, AdaBN adaptation and batch inference: geometry lands exactly on
// the input grid, --domain auto leaves the model alone, adapt_domain's
// statistics are the moments of the layer input, inputs become cases.
#include "pipeline/infer/segmenter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "models/domain_batch_norm.h"
#include "models/error.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/batch_inference.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "tests/pipeline/common/dicom_series_writer.h"
#include "tests/pipeline/common/test_files.h"
#include "tests/pipeline/common/tiny_bundle.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;
using test::blob_volume;
using test::make_tiny_bundle;
using test::oblique_direction;

void expect_same_geometry(const Geometry& a, const Geometry& b, double tol = 0.0) {
  EXPECT_EQ(a.size, b.size);
  for (int d = 0; d < 3; ++d) {
    EXPECT_NEAR(a.spacing[d], b.spacing[d], tol) << "spacing " << d;
    EXPECT_NEAR(a.origin[d], b.origin[d], tol) << "origin " << d;
  }
  for (int d = 0; d < 9; ++d) EXPECT_NEAR(a.direction[d], b.direction[d], tol) << "direction " << d;
}

SegmentOptions fp32() {
  SegmentOptions o;
  o.precision = Precision::kFp32;
  return o;
}

std::map<std::string, torch::Tensor> state_of(models::UNet3d& model) {
  std::map<std::string, torch::Tensor> s;
  for (const auto& p : model->named_parameters()) s[p.key()] = p.value().detach().clone();
  for (const auto& b : model->named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}

TEST(Segmenter, LabelsAndProbabilitiesLandExactlyOnAnObliqueInputGrid) {
  models::Bundle bundle = make_tiny_bundle();
  const Segmenter segmenter(bundle);
  const Volume input = blob_volume({13, 11, 9}, {1.1, 0.9, 1.7}, {-12.5, 30.25, 7.0}, oblique_direction());
  SegmentOptions o = fp32();
  o.probabilities = true;
  std::vector<double> fractions;
  o.progress = [&](double f) {
    fractions.push_back(f);
    return true;
  };
  const Segmentation s = segmenter.segment({input}, o);
  expect_same_geometry(s.labels.geometry, input.geometry);  // exactly
  EXPECT_EQ(s.labels.data.sizes(), input.data.sizes());
  EXPECT_EQ(s.labels.data.scalar_type(), torch::kShort);
  EXPECT_TRUE(((s.labels.data == 0) | (s.labels.data == 1)).all().item<bool>());
  ASSERT_TRUE(s.probabilities.has_value());
  expect_same_geometry(s.probabilities->geometry, input.geometry);
  EXPECT_EQ(s.probabilities->data.sizes(), (torch::IntArrayRef{2, 9, 11, 13}));
  EXPECT_TRUE(torch::allclose(s.probabilities->data.sum(0), torch::ones({9, 11, 13}), 1e-4, 1e-4));
  ASSERT_EQ(s.label_statistics.size(), 2u);
  EXPECT_EQ(s.label_statistics[0].voxels + s.label_statistics[1].voxels, 13 * 11 * 9);
  EXPECT_EQ(s.label_statistics[1].voxels, (s.labels.data == 1).sum().item<std::int64_t>());
  EXPECT_NEAR(s.label_statistics[1].volume_ml, s.label_statistics[1].voxels * 1.1 * 0.9 * 1.7 / 1000.0, 1e-12);
  EXPECT_EQ(s.domain, "scanner_a");  // the first domain by default
  ASSERT_FALSE(fractions.empty());
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
  EXPECT_GT(s.timings.total, 0.0);
  EXPECT_GT(s.timings.network, 0.0);
  EXPECT_GE(s.timings.blending, 0.0);
  EXPECT_LE(s.timings.network + s.timings.blending + s.timings.preprocess + s.timings.restore, s.timings.total + 1e-6);
}

TEST(Segmenter, CancelThrowsCancelled) {
  const Segmenter segmenter(make_tiny_bundle());
  SegmentOptions o = fp32();
  o.progress = [](double f) { return f < 0.5; };
  EXPECT_THROW(segmenter.segment({blob_volume({20, 20, 20}, {1, 1, 1}, {0, 0, 0}, oblique_direction())}, o),
               Cancelled);
}

TEST(Segmenter, DomainAutoAdaptsACopyAndNamedDomainsDiffer) {
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  const Segmenter segmenter(bundle);
  // A gain- and offset-shifted scan: the stored statistics do not fit it.
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "scanner_a";
  const Segmentation a = segmenter.segment({input}, o);
  o.domain = "scanner_b";
  const Segmentation b = segmenter.segment({input}, o);
  o.domain = "auto";
  const Segmentation adapted = segmenter.segment({input}, o);
  EXPECT_EQ(adapted.domain, "auto");
  EXPECT_GT(adapted.timings.adaptation, 0.0);
  EXPECT_GT((a.probabilities->data - b.probabilities->data).abs().max().item<float>(), 1e-3);
  EXPECT_GT((a.probabilities->data - adapted.probabilities->data).abs().max().item<float>(), 1e-3);
  // The loaded model is untouched: same tensors, same number of domains.
  const auto after = state_of(bundle.model);
  ASSERT_EQ(before.size(), after.size());
  for (const auto& [name, tensor] : before) EXPECT_TRUE(torch::equal(tensor, after.at(name))) << name;
  EXPECT_EQ(bundle.model->options.norm().num_domains(), 2);
  // Repeatable: a second auto run gives the same answer.
  const Segmentation again = segmenter.segment({input}, o);
  EXPECT_TRUE(torch::equal(adapted.labels.data, again.labels.data));
}

TEST(Segmenter, RefusesUnknownDomainAndAutoWithoutBatchNorm) {
  const Segmenter segmenter(make_tiny_bundle());
  SegmentOptions o = fp32();
  o.domain = "scanner_z";
  EXPECT_THROW(segmenter.check(o), ConfigError);
  test::TinyBundleSpec spec;
  spec.norm = models::NormKind::kInstance;
  const Segmenter instance(make_tiny_bundle(spec));
  o.domain = "auto";
  try {
    instance.check(o);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("instance"), std::string::npos) << e.what();
  }
}

TEST(AdaptDomain, StatisticsOfTheFirstLayerAreTheMomentsOfItsInput) {
  // Depth 1, one window covering the whole volume: the first batch norm sees
  // exactly conv(image), so its adapted statistics are that tensor's
  // per-channel mean and unbiased variance.
  test::TinyBundleSpec spec;
  spec.depth = 1;
  models::Bundle bundle = make_tiny_bundle(spec);
  models::UNet3d& model = bundle.model;
  const torch::Tensor image = torch::randn({1, 8, 8, 8}) * 4 + 3;
  adapt_domain(model, 1, {image}, {8, 8, 8});
  torch::NoGradGuard no_grad;
  const torch::Tensor conv = model->named_modules()["encoder0a.conv"]->as<torch::nn::Conv3dImpl>()->forward(
      image.unsqueeze(0));
  const torch::Tensor mean = conv.to(torch::kDouble).mean({0, 2, 3, 4});
  const torch::Tensor var = conv.to(torch::kDouble).var({0, 2, 3, 4}, /*unbiased=*/true);
  const auto buffers = model->named_buffers();
  const torch::Tensor running_mean = buffers["encoder0a.norm.running_mean"][1].to(torch::kDouble);
  const torch::Tensor running_var = buffers["encoder0a.norm.running_var"][1].to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(running_mean, mean, 1e-5, 1e-5)) << running_mean << mean;
  EXPECT_TRUE(torch::allclose(running_var, var, 1e-4, 1e-5)) << running_var << var;
  EXPECT_EQ(buffers["encoder0a.norm.num_batches_tracked"][1].item<std::int64_t>(), 1);
}

TEST(AdaptDomain, OnlyTheAdaptedDomainChanges) {
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  adapt_domain(bundle.model, 1, {torch::randn({1, 12, 10, 9}) * 5, torch::randn({1, 8, 8, 8})}, {8, 8, 8});
  const auto after = state_of(bundle.model);
  for (const auto& [name, tensor] : before) {
    if (name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos) {
      EXPECT_TRUE(torch::equal(tensor[0], after.at(name)[0])) << name;
      EXPECT_FALSE(torch::equal(tensor[1], after.at(name)[1])) << name;
    } else {
      EXPECT_TRUE(torch::equal(tensor, after.at(name))) << name;
    }
  }
}

TEST(AddAdaptedDomain, AddsANamedDomainThatSavesAndLoads) {
  test::TempDir tmp;
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  const std::int64_t index = add_adapted_domain(bundle, "scanner_c", {torch::randn({1, 9, 9, 9}) * 2 + 1});
  EXPECT_EQ(index, 2);
  EXPECT_EQ(bundle.info.domains, (std::vector<std::string>{"scanner_a", "scanner_b", "scanner_c"}));
  EXPECT_EQ(bundle.info.architecture.norm().num_domains(), 3);
  models::save_bundle(tmp / "adapted", bundle.info, bundle.model);
  models::Bundle loaded = models::load_bundle(tmp / "adapted");
  EXPECT_EQ(loaded.info.domains, bundle.info.domains);
  // The old domains' statistics are kept.
  const auto after = state_of(loaded.model);
  EXPECT_TRUE(torch::equal(before.at("encoder0a.norm.running_mean")[1], after.at("encoder0a.norm.running_mean")[1]));
  EXPECT_TRUE(torch::equal(before.at("encoder0a.conv.weight"), after.at("encoder0a.conv.weight")));
  SegmentOptions o = fp32();
  o.domain = "scanner_c";
  EXPECT_NO_THROW(Segmenter(loaded).segment({blob_volume({9, 9, 9}, {1, 1, 1}, {0, 0, 0}, oblique_direction())}, o));
}

TEST(AddAdaptedDomain, RefusesAnExistingNameAndNonBatchNorm) {
  models::Bundle bundle = make_tiny_bundle();
  EXPECT_THROW(add_adapted_domain(bundle, "scanner_b", {torch::randn({1, 8, 8, 8})}), ModelError);
  EXPECT_EQ(bundle.info.domains.size(), 2u);
  EXPECT_EQ(bundle.model->options.norm().num_domains(), 2);
  test::TinyBundleSpec spec;
  spec.norm = models::NormKind::kInstance;
  models::Bundle instance = make_tiny_bundle(spec);
  try {
    add_adapted_domain(instance, "new", {torch::randn({1, 8, 8, 8})});
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to adapt"), std::string::npos) << e.what();
  }
}

TEST(CollectInferenceCases, FilesFoldersListsAndNnUNetChannels) {
  test::TempDir tmp;
  const Volume v = blob_volume({6, 6, 6}, {1, 1, 1}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  fs::create_directories(tmp / "multi");
  write_volume(v, tmp / "multi" / "a_0000.nii.gz");
  write_volume(v, tmp / "multi" / "a_0001.nii.gz");
  write_volume(v, tmp / "multi" / "b_0000.nii.gz");  // b_0001 missing
  write_volume(v, tmp / "one.nrrd");
  write_volume(v, tmp / "c_0000.mha");
  test::write_text(tmp / "list.csv", "image,comment\none.nrrd,x\n\n# a comment\n" + (tmp / "c_0000.mha").string() +
                                         ",y\nmissing.nii.gz,z\n");

  const auto multi = collect_inference_cases({tmp / "multi"}, 2);
  ASSERT_EQ(multi.size(), 2u);
  EXPECT_EQ(multi[0].id, "a");
  EXPECT_TRUE(multi[0].error.empty()) << multi[0].error;
  EXPECT_EQ(multi[0].channels, (std::vector<fs::path>{tmp / "multi" / "a_0000.nii.gz", tmp / "multi" / "a_0001.nii.gz"}));
  EXPECT_EQ(multi[1].id, "b");
  EXPECT_NE(multi[1].error.find("b_0001 is missing"), std::string::npos) << multi[1].error;

  const auto listed = collect_inference_cases({tmp / "list.csv"}, 1);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].id, "one");
  EXPECT_EQ(listed[0].output_extension, ".nrrd");
  EXPECT_EQ(listed[1].id, "c");  // _0000 dropped for one channel
  EXPECT_EQ(listed[1].output_extension, ".mha");
  EXPECT_EQ(listed[2].id, "missing");
  EXPECT_NE(listed[2].error.find("no such file"), std::string::npos);

  const auto duplicate = collect_inference_cases({tmp / "one.nrrd", tmp / "one.nrrd"}, 1);
  ASSERT_EQ(duplicate.size(), 2u);
  EXPECT_TRUE(duplicate[0].error.empty());
  EXPECT_NE(duplicate[1].error.find("same case name"), std::string::npos);
  const auto unknown = collect_inference_cases({tmp / "list.csv.bak"}, 1);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_FALSE(unknown[0].error.empty());
}

TEST(BatchInference, WrittenLabelsEqualTheInMemoryResultAndKeepTheFileType) {
  test::TempDir tmp;
  const Segmenter segmenter(make_tiny_bundle());
  const Volume input = blob_volume({13, 11, 9}, {1.1, 0.9, 1.7}, {-12.5, 30.25, 7.0}, oblique_direction());
  write_volume(input, tmp / "oblique.nii.gz");
  write_volume(input, tmp / "plain.nrrd");
  CaseRunOptions options;
  options.output_dir = tmp / "out";
  fs::create_directories(options.output_dir);
  options.segment = fp32();
  options.software_version = "test";
  for (const char* name : {"oblique.nii.gz", "plain.nrrd"}) {
    const auto cases = collect_inference_cases({tmp / name}, 1);
    ASSERT_EQ(cases.size(), 1u);
    const CaseOutcome outcome = run_inference_case(segmenter, cases[0], options);
    ASSERT_EQ(outcome.status, CaseStatus::kDone) << outcome.message;
    EXPECT_EQ(outcome.label_file.extension(), fs::path(name).extension());
    const Volume read_input = read_volume(tmp / name);
    const Volume written = read_label_map(outcome.label_file);
    // NRRD keeps doubles: the same numbers. NIfTI stores float32 (the
    // direction as a quaternion), so writing what was read can move a
    // near-zero direction cosine by a few 1e-9: float precision, not a shift.
    const bool nifti = std::string(name).find(".nii") != std::string::npos;
    expect_same_geometry(written.geometry, read_input.geometry, nifti ? 1e-6 : 1e-9);
    const Segmentation s = segmenter.segment({read_input}, options.segment);
    EXPECT_TRUE(torch::equal(written.data, s.labels.data)) << name;
    EXPECT_TRUE(fs::exists(outcome.report_file));
    const CaseOutcome again = run_inference_case(segmenter, cases[0], options);
    EXPECT_EQ(again.status, CaseStatus::kSkipped);
    ASSERT_EQ(again.labels.size(), 2u);
    EXPECT_EQ(again.labels[1].voxels, outcome.labels[1].voxels);
  }
}

TEST(BatchInference, DicomSeriesGivesANiftiOnTheSeriesGrid) {
  test::TempDir tmp;
  test::DicomSeriesSpec spec;
  spec.columns = 12;
  spec.rows = 10;
  spec.spacing = {0.8, 0.9, 2.0};
  const double c = std::cos(0.2), s = std::sin(0.2);
  spec.direction = {c, 0, s, 0, 1, 0, -s, 0, c};  // oblique about y
  for (int k = 0; k < 7; ++k) spec.positions.push_back({10.0 + 2.0 * k * s, -5.0, 3.0 + 2.0 * k * c});
  test::write_dicom_series(tmp / "series", spec);
  const Segmenter segmenter(make_tiny_bundle());
  CaseRunOptions options;
  options.output_dir = tmp / "out";
  fs::create_directories(options.output_dir);
  options.segment = fp32();
  const auto cases = collect_inference_cases({tmp / "series"}, 1);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].id, "series");
  const CaseOutcome outcome = run_inference_case(segmenter, cases[0], options);
  ASSERT_EQ(outcome.status, CaseStatus::kDone) << outcome.message;
  EXPECT_EQ(outcome.label_file, tmp / "out" / "series.nii.gz");
  const Volume dicom = read_volume(tmp / "series");
  // In memory: exactly the series' grid.
  const Segmentation seg = segmenter.segment({dicom}, options.segment);
  expect_same_geometry(seg.labels.geometry, dicom.geometry);
  // On disk: NIfTI stores spacing and origin as float32 and the direction
  // as a float32 quaternion, so agreement is to float precision.
  const Volume written = read_label_map(outcome.label_file);
  expect_same_geometry(written.geometry, dicom.geometry, 1e-5);
  EXPECT_TRUE(torch::equal(written.data, seg.labels.data));
}


TEST(BatchInference, AFolderWithTwoDicomSeriesGivesTwoCases) {
  test::TempDir tmp;
  test::DicomSeriesSpec first;
  for (int k = 0; k < 4; ++k) first.positions.push_back({0.0, 0.0, 2.0 * k});
  test::DicomSeriesSpec second = first;
  second.series_uid = "1.2.826.0.1.3680043.2.1125.777.2";
  second.columns = 9;
  test::write_dicom_series(tmp / "s1", first);
  test::write_dicom_series(tmp / "s2", second);
  fs::create_directories(tmp / "both");
  for (const char* s : {"s1", "s2"}) {
    for (const auto& e : fs::directory_iterator(tmp / s)) {
      fs::copy_file(e.path(), tmp / "both" / (std::string(s) + "_" + e.path().filename().string()));
    }
  }
  const auto cases = collect_inference_cases({tmp / "both"}, 1);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].id, "both_series1");
  EXPECT_EQ(cases[1].id, "both_series2");
  EXPECT_NE(cases[0].series_uid, cases[1].series_uid);
  const Segmenter segmenter(make_tiny_bundle());
  CaseRunOptions options;
  options.output_dir = tmp / "out";
  fs::create_directories(options.output_dir);
  options.segment = fp32();
  std::set<std::int64_t> columns;
  for (const auto& c : cases) {
    const CaseOutcome outcome = run_inference_case(segmenter, c, options);
    ASSERT_EQ(outcome.status, CaseStatus::kDone) << outcome.message;
    columns.insert(read_label_map(outcome.label_file).geometry.size[0]);
  }
  EXPECT_EQ(columns, (std::set<std::int64_t>{6, 9}));
}

}  // namespace
}  // namespace medseg::pipeline
