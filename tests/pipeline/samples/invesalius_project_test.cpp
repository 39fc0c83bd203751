#include "pipeline/samples/invesalius_project.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "pipeline/samples/plist.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;

TEST(Plist, ParsesNestedDictsArraysAndScalars) {
  TempDir dir;
  test::write_text(dir / "a.plist",
                   "<?xml version=\"1.0\"?>\n<!DOCTYPE plist>\n<plist version=\"1.0\"><dict>"
                   "<key>shape</key><array><integer>3</integer><integer>4</integer></array>"
                   "<key>spacing</key><real>0.5</real><key>name</key><string>bone</string>"
                   "<key>on</key><true/><key>empty</key><dict></dict></dict></plist>");
  const PlistValue v = read_plist(dir / "a.plist");
  EXPECT_EQ(v.at("shape").items.size(), 2u);
  EXPECT_EQ(v.at("shape").items[1].as_number(), 4.0);
  EXPECT_EQ(v.at("spacing").as_number(), 0.5);
  EXPECT_EQ(v.at("name").as_string(), "bone");
  EXPECT_THROW(v.at("missing"), IoError);
}

TEST(Plist, MalformedFileIsAnError) {
  TempDir dir;
  test::write_text(dir / "bad.plist", "<plist><dict><key>a</key><integer>1");
  EXPECT_THROW(read_plist(dir / "bad.plist"), IoError);
}

TEST(InvesaliusProject, ReadsCraniumCtAndMasksMatchingTheirThresholds) {
  const std::filesystem::path inv3 = "/usr/share/doc/invesalius-examples/examples/Cranium.inv3";
  MEDSEG_REQUIRE_FILE(inv3);
  TempDir dir;
  const std::string cmd = "tar -xzf '" + inv3.string() + "' -C '" + dir.path().string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::filesystem::path project;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (e.path().filename() == "main.plist") project = e.path().parent_path();
  }
  const InvesaliusProject p = read_invesalius_project(project);
  EXPECT_EQ(p.image.geometry.size, (std::array<std::int64_t, 3>{256, 256, 108}));
  EXPECT_NEAR(p.image.geometry.spacing[0], 0.9570312, 1e-6);
  EXPECT_NEAR(p.image.geometry.spacing[2], 1.5, 1e-9);
  EXPECT_EQ(p.image.data.min().item<float>(), -1024.0f);
  EXPECT_EQ(p.image.data.max().item<float>(), 2986.0f);
  ASSERT_EQ(p.masks.size(), 2u);
  // Independent check of the one-voxel offset: mask 0 is InVesalius's
  // threshold 226..3071 HU, so after dropping the extra plane/row/column it
  // must equal that threshold applied to the CT voxel for voxel.
  const at::Tensor bone = (p.image.data >= 226) & (p.image.data <= 3071);
  EXPECT_TRUE(at::equal(p.masks[0].mask.data > 0, bone));
  const at::Tensor head = (p.image.data >= -142) & (p.image.data <= 2986);
  EXPECT_TRUE(at::equal(p.masks[1].mask.data > 0, head));
}

}  // namespace
}  // namespace medseg::pipeline
