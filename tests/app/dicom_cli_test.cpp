// DICOM end to end through the real binary, on the CT sample: `medseg
// convert` (volume -> DICOM series, label map + series -> DICOM SEG),
// `medseg infer --format dicom-seg`, `medseg info` and `medseg evaluate` on a
// SEG. The SEG is checked by independent tools: dciodvfy (dicom3tools) and
// pydicom + nibabel under /usr/bin/python3 (tests/app/dicom_seg_check.py).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>

#include "pipeline/grid_compare.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/preprocess/reorient.h"
#include "tests/app/cli_helpers.h"

namespace medseg::test {
namespace {

const fs::path kSource = MEDSEG_SOURCE_DIR;
const fs::path kCt = kSource / "data_samples/ct/head_ct.nii.gz";
const fs::path kCtLabels = kSource / "data_samples/ct/head_ct_labels.nii.gz";
const fs::path kCtModel = kSource / "data_samples/models/ct_head";

/// The CT sample as a DICOM series and its labels as a SEG, made once.
class DicomCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    series_result_ = medseg("convert " + quoted(kCt) + " --to dicom-series --output " + quoted(series()));
    seg_result_ = medseg("convert " + quoted(kCtLabels) + " --reference " + quoted(series()) + " --model " +
                         quoted(kCtModel) + " --output " + quoted(seg()));
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static fs::path series() { return *tmp_ / "ct_dicom"; }
  static fs::path seg() { return *tmp_ / "head_ct.dcm"; }

  static TempDir* tmp_;
  static Result series_result_;
  static Result seg_result_;
};
TempDir* DicomCli::tmp_ = nullptr;
Result DicomCli::series_result_;
Result DicomCli::seg_result_;

TEST_F(DicomCli, ConvertWritesTheCtSampleAsASeriesOnTheSameGrid) {
  ASSERT_EQ(series_result_.exit_code, 0) << series_result_.err;
  const pipeline::Volume nifti = pipeline::read_volume(kCt);
  const pipeline::Volume dicom = pipeline::read_volume(series());
  // The same voxels; ITK's grid of the series runs k the other way (along
  // the slice normal) than the sample's left-handed NIfTI grid.
  const auto same = pipeline::same_voxels_on_grid(nifti, dicom.geometry);
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(dicom.data.equal(same->data));
}

TEST_F(DicomCli, SegPassesDciodvfyWithoutErrors) {
  ASSERT_EQ(seg_result_.exit_code, 0) << seg_result_.err;
  const Result r = run("dciodvfy " + quoted(seg()));
  const std::string all = r.out + r.err;
  EXPECT_EQ(all.find("Error"), std::string::npos) << all;
  EXPECT_NE(all.find("Segmentation"), std::string::npos) << all;  // it did recognise the IOD
}

TEST_F(DicomCli, PydicomFindsFramesOnTheirSourceSlicesWithTheBundlesLabels) {
  ASSERT_EQ(seg_result_.exit_code, 0) << seg_result_.err;
  // ct_head: 1 bone (255, 0, 0), 2 tissue (0, 255, 0).
  write_text(*tmp_ / "expected.json",
             R"({"segments": [{"value": 1, "label": "bone", "rgb": [255, 0, 0], "type_code": "272673000"},
                              {"value": 2, "label": "tissue", "rgb": [0, 255, 0], "type_code": "87784001"}]})");
  const Result r = run("/usr/bin/python3 " + quoted(kSource / "tests/app/dicom_seg_check.py") + " " + quoted(seg()) +
                       " " + quoted(series()) + " " + quoted(kCtLabels) + " " + quoted(*tmp_ / "expected.json"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok: "), std::string::npos) << r.out << r.err;
}

TEST_F(DicomCli, SegReadsBackAsTheLabelMapByteForByte) {
  ASSERT_EQ(seg_result_.exit_code, 0) << seg_result_.err;
  EXPECT_NE(seg_result_.out.find("re-indexed onto the series' grid"), std::string::npos) << seg_result_.out;
  const pipeline::Geometry grid = pipeline::read_volume(series()).geometry;
  const auto labels = pipeline::same_voxels_on_grid(pipeline::read_label_map(kCtLabels), grid);
  ASSERT_TRUE(labels.has_value());
  pipeline::ReadOptions options;
  options.seg_grid = grid;
  const pipeline::Volume back = pipeline::read_label_map(seg(), options);
  EXPECT_TRUE(back.data.equal(labels->data));
}

TEST_F(DicomCli, InfoDescribesTheSegments) {
  ASSERT_EQ(seg_result_.exit_code, 0) << seg_result_.err;
  const Result r = medseg("info --json " + quoted(seg()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out)[0];
  ASSERT_TRUE(j.contains("dicom_seg")) << r.out;
  const auto& segments = j["dicom_seg"]["segments"];
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0]["label"], "bone");
  EXPECT_EQ(segments[1]["label_value"], 2);
  EXPECT_EQ(segments[1]["algorithm_type"], "AUTOMATIC");
  EXPECT_EQ(segments[1]["color"], nlohmann::json::array({0, 255, 0}));
  const Result text = medseg("info " + quoted(seg()));
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("'tissue'  Soft tissue (SCT 87784001)  AUTOMATIC"), std::string::npos) << text.out;
}

TEST_F(DicomCli, EvaluateTakesASegAsReference) {
  ASSERT_EQ(seg_result_.exit_code, 0) << seg_result_.err;
  TempDir dir;
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  fs::copy_file(kCtLabels, dir / "pred" / "head.nii.gz");
  fs::copy_file(seg(), dir / "ref" / "head.dcm");
  const Result r = medseg("evaluate --pred " + quoted(dir / "pred") + " --ref " + quoted(dir / "ref") + " --csv " +
                          quoted(dir / "eval.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string csv = slurp(dir / "eval.csv");
  EXPECT_NE(csv.find("head,1,1,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("head,2,1,"), std::string::npos) << csv;

  // A prediction on another grid: the SEG's frames are on none of its slices.
  pipeline::Volume shifted = pipeline::read_label_map(kCtLabels);
  shifted.geometry.origin[2] += 1.0;
  pipeline::write_volume(shifted, dir / "pred" / "head.nii.gz", pipeline::PixelType::kUInt8);
  const Result off = medseg("evaluate --pred " + quoted(dir / "pred") + " --ref " + quoted(dir / "ref") + " --csv " +
                            quoted(dir / "eval.csv"));
  EXPECT_EQ(off.exit_code, 2);
  EXPECT_NE(off.err.find("is on none of the grid's"), std::string::npos) << off.err;
  EXPECT_NE(off.err.find("head.dcm"), std::string::npos) << off.err;
}

TEST_F(DicomCli, InferWritesNiftiAndDicomSegOfTheSameLabels) {
  ASSERT_EQ(series_result_.exit_code, 0) << series_result_.err;
  TempDir dir;
  const Result r = medseg("infer --model " + quoted(kCtModel) + " " + quoted(series()) +
                          " --format nifti,dicom-seg --precision fp32 --output " + quoted(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const fs::path nifti = dir / "out" / "ct_dicom.nii.gz";
  const fs::path dcm = dir / "out" / "ct_dicom.dcm";
  ASSERT_TRUE(fs::exists(nifti)) << r.out;
  ASSERT_TRUE(fs::exists(dcm)) << r.out;
  const pipeline::Volume labels = pipeline::read_label_map(nifti);
  pipeline::ReadOptions options;
  options.seg_grid = labels.geometry;
  EXPECT_TRUE(pipeline::read_label_map(dcm, options).data.equal(labels.data));
  const auto info = pipeline::read_dicom_seg_info(dcm);
  ASSERT_FALSE(info.segments.empty());
  EXPECT_EQ(info.segments[0].algorithm_name, "medseg ct_head 1");
  const Result check = run("dciodvfy " + quoted(dcm));
  EXPECT_EQ((check.out + check.err).find("Error"), std::string::npos) << check.out << check.err;
}

TEST_F(DicomCli, DicomSegFromANonDicomInputFailsTheCase) {
  TempDir dir;
  const Result r = medseg("infer --model " + quoted(kCtModel) + " " + quoted(kCt) +
                          " --format dicom-seg --precision fp32 --output " + quoted(dir / "out"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("DICOM SEG output needs a DICOM series as input"), std::string::npos) << r.err;
  const Result bad = medseg("infer --model " + quoted(kCtModel) + " " + quoted(kCt) + " --format nifti,jpeg --output " +
                            quoted(dir / "out"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown format 'jpeg'"), std::string::npos) << bad.err;
}

TEST_F(DicomCli, ConvertRefusesBadInputWithOneLine) {
  ASSERT_EQ(series_result_.exit_code, 0) << series_result_.err;
  TempDir dir;
  // A label map on another grid (the MRI sample's mask).
  const Result off = medseg("convert " + quoted(kSource / "data_samples/mri/brain_mask.nii.gz") + " --reference " +
                            quoted(series()) + " --output " + quoted(dir / "seg.dcm"));
  EXPECT_EQ(off.exit_code, 2);
  EXPECT_EQ(count_lines(off.err), 1) << off.err;
  EXPECT_NE(off.err.find("is not on the grid of the DICOM series"), std::string::npos) << off.err;
  EXPECT_FALSE(fs::exists(dir / "seg.dcm"));
  // A reference folder without DICOM.
  fs::create_directories(dir / "nodicom");
  write_text(dir / "nodicom" / "notes.txt", "not DICOM\n");
  const Result none = medseg("convert " + quoted(kCtLabels) + " --reference " + quoted(dir / "nodicom") +
                             " --output " + quoted(dir / "seg.dcm"));
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(count_lines(none.err), 1) << none.err;
  EXPECT_NE(none.err.find("no DICOM series"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("nodicom"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace medseg::test
