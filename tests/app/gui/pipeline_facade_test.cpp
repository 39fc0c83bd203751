// The GUI's facade over the pipeline: file naming, bundle listing,
// precision choice, label map + label table writing.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "app/gui/logic/pipeline_facade.h"
#include "core/error.h"
#include "models/cpu_features.h"
#include "models/precision.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/dicom_series_writer.h"
#include "pipeline/io/volume_reader.h"
#include "tests/app/gui/test_volumes.h"

namespace medseg::gui {
namespace {
namespace fs = std::filesystem;

TEST(PipelineFacade, LabelTableSitsBesideTheLabelMapWithItsVolumeExtensionReplaced) {
  EXPECT_EQ(label_table_path("/a/b/case.nii.gz"), fs::path("/a/b/case.csv"));
  EXPECT_EQ(label_table_path("/a/b/case.nii"), fs::path("/a/b/case.csv"));
  EXPECT_EQ(label_table_path("case.v2.nrrd"), fs::path("case.v2.csv"));
  EXPECT_EQ(label_table_path("x.mha"), fs::path("x.csv"));
  EXPECT_EQ(label_table_path("noext"), fs::path("noext.csv"));
}

TEST(PipelineFacade, ListsTheBundledModelsSorted) {
  const auto bundles = list_bundles(fs::path(MEDSEG_SOURCE_DIR) / "data_samples" / "models");
  ASSERT_EQ(bundles.size(), 2u);
  EXPECT_EQ(bundles[0].filename(), "brain_mri_t1");
  EXPECT_EQ(bundles[1].filename(), "ct_head");
  EXPECT_TRUE(list_bundles("/nonexistent/folder").empty());
}

TEST(PipelineFacade, AutoPrecisionFollowsTheCpusRuleAndItsLabelSaysWhich) {
  const auto rule = models::auto_precision_rule(models::cpu_features());
  const pipeline::Precision automatic = resolve_precision("auto");
  const std::string label = auto_precision_label();
  switch (rule) {
    case models::AutoPrecisionRule::kNoNativeBf16:
      EXPECT_EQ(automatic, pipeline::Precision::kFp32);
      EXPECT_NE(label.find("fp32"), std::string::npos) << label;
      break;
    case models::AutoPrecisionRule::kAmx:
      EXPECT_EQ(automatic, pipeline::Precision::kBf16);
      EXPECT_NE(label.find("AMX"), std::string::npos) << label;
      break;
    case models::AutoPrecisionRule::kMeasured:
      EXPECT_NE(automatic, pipeline::Precision::kAuto);
      EXPECT_NE(label.find("measured"), std::string::npos) << label;
      break;
  }
  EXPECT_EQ(resolve_precision("fp32"), pipeline::Precision::kFp32);
  EXPECT_EQ(resolve_precision("bf16"), pipeline::Precision::kBf16);
  EXPECT_THROW(resolve_precision("fp16"), ConfigError);
}

TEST(PipelineFacade, SavesAnInt16LabelMapAndItsTable) {
  const fs::path dir = fs::temp_directory_path() / ("medseg_facade_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  pipeline::Geometry g = test::lps_geometry({5, 4, 3}, {0.5, 0.75, 3.0});
  g.origin = {10, -20, 30};
  at::Tensor labels = at::zeros({3, 4, 5}, at::kShort);
  labels[1][2][3] = 7;
  labels[2][0][0] = 300;
  std::vector<LabelDescription> table{{7, "liver, left lobe", {1, 2, 3}, true}, {300, "x\"y", {4, 5, 6}, false}};
  save_label_map(labels, g, dir / "l.nii.gz", table);
  const auto back = pipeline::read_label_map(dir / "l.nii.gz");
  EXPECT_EQ(back.pixel_type, "int16");
  EXPECT_TRUE(at::equal(back.data.to(at::kShort), labels));
  EXPECT_EQ(back.geometry.origin, g.origin);
  std::ifstream in(dir / "l.csv");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "label,name,r,g,b\n7,\"liver, left lobe\",1,2,3\n300,\"x\"\"y\",4,5,6\n");
  fs::remove_all(dir);
}

// A map saved by the GUI comes back with its names and colours.
TEST(PipelineFacade, StoredDescriptionsComeFromTheTableBesideAVolume) {
  const fs::path dir = fs::temp_directory_path() / ("medseg_facade_t_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const pipeline::Geometry g = test::lps_geometry({5, 4, 3}, {1.0, 1.0, 2.0});
  const at::Tensor labels = at::zeros({3, 4, 5}, at::kShort);
  const std::vector<LabelDescription> table{{7, "liver, left lobe", {1, 2, 3}, true}, {300, "x\"y", {4, 5, 255}, true}};
  save_label_map(labels, g, dir / "l.nrrd", table);
  const auto back = stored_label_descriptions(dir / "l.nrrd");
  ASSERT_EQ(back.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].value, table[i].value);
    EXPECT_EQ(back[i].name, table[i].name);
    EXPECT_EQ(back[i].color, table[i].color);
  }
  fs::remove(dir / "l.csv");
  EXPECT_TRUE(stored_label_descriptions(dir / "l.nrrd").empty());

  // A hand-edited table with a bad value names the file and line.
  for (const std::string bad : {"label,name,r,g,b\n7,a,1,2,3\n8,b,1,256,3\n", "label;name\n7;a\n",
                                "label,name,r,g,b\n7,a,1,2\n", "label,name,r,g,b\n0,bg,1,2,3\n"}) {
    std::ofstream(dir / "l.csv") << bad;
    try {
      stored_label_descriptions(dir / "l.nrrd");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("l.csv', line "), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

// A radiologist's DICOM SEG shows its segments' names and colours.
TEST(PipelineFacade, StoredDescriptionsComeFromADicomSegsSegments) {
  const fs::path dir = fs::temp_directory_path() / ("medseg_facade_s_" + std::to_string(::getpid()));
  pipeline::Volume source;
  source.geometry = test::lps_geometry({6, 5, 4}, {0.8, 0.9, 2.0});
  source.data = at::arange(120, at::kFloat).reshape({4, 5, 6});
  pipeline::write_dicom_series(source, dir / "series");
  const pipeline::Volume scan = pipeline::read_volume(dir / "series");
  pipeline::Volume labels = scan;
  labels.data = at::zeros_like(scan.data, at::kShort);
  labels.data.index_put_({1, 0, 0}, 2);
  labels.data.index_put_({2, 1, 1}, 5);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "series")) files.push_back(e.path().string());
  pipeline::DicomSegWriteOptions options;
  options.labels = {{2, "Kidney", {200, 120, 40}}, {5, "Cyst", {10, 90, 250}}};
  pipeline::write_dicom_seg(labels, files, dir / "seg.dcm", options);

  const auto back = stored_label_descriptions(dir / "seg.dcm");
  ASSERT_EQ(back.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].value, options.labels[i].value);
    EXPECT_EQ(back[i].name, options.labels[i].name);
    // DICOM stores CIELab: sRGB comes back within one step.
    for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(back[i].color[c], options.labels[i].color[c], 1) << i << c;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace medseg::gui
