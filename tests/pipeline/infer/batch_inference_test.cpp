// Batch inference: inputs (files, folders, lists, DICOM series) become cases,
// and each case's written label map equals the in-memory segmentation on the
// input's grid.
#include "pipeline/infer/batch_inference.h"
#include "pipeline/infer/inference_report.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "tests/pipeline/common/dicom_series_writer.h"
#include "tests/pipeline/common/test_files.h"
#include "tests/pipeline/common/tiny_bundle.h"
#include "tests/pipeline/infer/infer_helpers.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;
using test::blob_volume;
using test::make_tiny_bundle;
using test::oblique_direction;
using test_infer::expect_same_geometry;
using test_infer::fp32;

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
    // Window counts reach the report and come back from it for a skipped case.
    ASSERT_TRUE(outcome.windows && again.windows);
    EXPECT_EQ(outcome.windows->windows, s.windows.windows);
    EXPECT_GT(outcome.windows->windows, 0);
    EXPECT_EQ(again.windows->windows, outcome.windows->windows);
    EXPECT_EQ(again.windows->skipped, outcome.windows->skipped);
    const std::string csv = inference_summary_csv(segmenter.info(), {outcome});
    EXPECT_NE(csv.find(",windows,windows_skipped\n"), std::string::npos) << csv;
    EXPECT_NE(csv.find("," + std::to_string(s.windows.windows) + "," + std::to_string(s.windows.skipped) + "\n"),
              std::string::npos)
        << csv;
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

// Debian's GDCM is built with assert() on: CT_small.dcm cut inside its meta
// header ends in "gdcmFileMetaInformation.cxx:591 ReadCompat: Assertion
// `is.good()' failed" and SIGABRT. Reading DICOM runs in a child process, so
// the abort costs the case that holds the file, named, and nothing else. (A
// regression aborts this test binary.)
TEST(BatchInference, ASliceThatAbortsTheDicomDecoderCostsItsCaseOnly) {
  const fs::path ct = test::pydicom_dir() / "CT_small.dcm";
  MEDSEG_REQUIRE_FILE(ct);
  test::TempDir tmp;
  test::DicomSeriesSpec spec;
  for (int k = 0; k < 4; ++k) spec.positions.push_back({0.0, 0.0, 2.0 * k});
  test::write_dicom_series(tmp / "series", spec);
  test::write_dicom_series(tmp / "good", spec);
  const Segmenter segmenter(make_tiny_bundle());
  CaseRunOptions options;
  options.output_dir = tmp / "out";
  fs::create_directories(options.output_dir);
  options.segment = fp32();
  std::vector<InferenceCase> cases = collect_inference_cases({tmp / "series", tmp / "good"}, 1);
  ASSERT_EQ(cases.size(), 2u);
  ASSERT_TRUE(cases[0].error.empty()) << cases[0].error;

  // The file breaks after the folder was listed: the crash comes while reading.
  std::ifstream in(ct, std::ios::binary);
  std::string head(300, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  test::write_text(tmp / "series" / "broken.dcm", head);
  cases[0].dicom_series.files.push_back((tmp / "series" / "broken.dcm").string());
  const CaseOutcome failed = run_inference_case(segmenter, cases[0], options);
  EXPECT_EQ(failed.status, CaseStatus::kFailed);
  EXPECT_NE(failed.message.find("file 'broken.dcm' crashes the DICOM decoder (GDCM, signal 6: "), std::string::npos)
      << failed.message;
  EXPECT_NE(failed.message.find("Assertion"), std::string::npos) << failed.message;
  EXPECT_EQ(failed.message.find('\n'), std::string::npos) << failed.message;
  EXPECT_EQ(run_inference_case(segmenter, cases[1], options).status, CaseStatus::kDone);

  // Listed with the broken file in it, the folder is a failed case naming it.
  cases = collect_inference_cases({tmp / "series", tmp / "good"}, 1);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_NE(cases[0].error.find("broken.dcm"), std::string::npos) << cases[0].error;
  EXPECT_EQ(run_inference_case(segmenter, cases[0], options).status, CaseStatus::kFailed);
  EXPECT_TRUE(cases[1].error.empty()) << cases[1].error;
}

}  // namespace
}  // namespace medseg::pipeline
