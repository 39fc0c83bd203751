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

TEST(PipelineFacade, AutoPrecisionIsBf16OnlyWithNativeBf16) {
  EXPECT_EQ(resolve_precision("auto"),
            cpu_has_native_bf16() ? pipeline::Precision::kBf16 : pipeline::Precision::kFp32);
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

}  // namespace
}  // namespace medseg::gui
