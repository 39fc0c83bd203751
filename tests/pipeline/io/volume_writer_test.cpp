#include "pipeline/io/volume_writer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <itkImage.h>
#include <itkImageFileReader.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/io/volume_reader.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;
namespace fs = std::filesystem;

Volume oblique_volume() {
  Volume v;
  v.geometry.size = {5, 4, 3};
  v.geometry.spacing = {0.7, 1.3, 2.9};
  v.geometry.origin = {-12.25, 33.5, 7.125};
  // A proper rotation: 40 degrees about the axis (1, 1, 1)/sqrt(3) (Rodrigues).
  const double c = std::cos(40.0 * M_PI / 180.0), s = std::sin(40.0 * M_PI / 180.0);
  const double t = (1.0 - c) / 3.0, q = s / std::sqrt(3.0);
  v.geometry.direction = {t + c, t - q, t + q, t + q, t + c, t - q, t - q, t + q, t + c};
  v.data = at::arange(60, at::kFloat).reshape({3, 4, 5}) * 1.5f - 20.0f;
  return v;
}

void expect_same_grid(const Geometry& a, const Geometry& b) {
  EXPECT_EQ(a.size, b.size);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.spacing[i], b.spacing[i], 1e-6);
    EXPECT_NEAR(a.origin[i], b.origin[i], 1e-5);
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(a.direction[i], b.direction[i], 1e-6);
}

TEST(VolumeWriter, RoundTripKeepsObliqueGeometryInEveryFormat) {
  TempDir dir;
  const Volume original = oblique_volume();
  for (const char* name : {"v.nii.gz", "v.nii", "v.nrrd", "v.mha"}) {
    SCOPED_TRACE(name);
    write_volume(original, dir / name, PixelType::kFloat32);
    const Volume back = read_volume(dir / name);
    expect_same_grid(back.geometry, original.geometry);
    EXPECT_TRUE(at::equal(back.data, original.data));
    EXPECT_EQ(back.pixel_type, "float32");
  }
}

TEST(VolumeWriter, IntegerTypesRoundAndClamp) {
  TempDir dir;
  Volume v = oblique_volume();
  v.data = at::tensor({-3.6f, -0.4f, 0.5f, 1.49f, 254.7f, 300.0f}).reshape({1, 2, 3});
  v.geometry.size = {3, 2, 1};
  write_volume(v, dir / "u8.nii.gz", PixelType::kUInt8);
  const Volume back = read_volume(dir / "u8.nii.gz");
  EXPECT_EQ(back.pixel_type, "uint8");
  // Rounded half away from zero would give 1 for 0.5; ATen rounds half to even.
  const at::Tensor expected = at::tensor({0.0f, 0.0f, 0.0f, 1.0f, 255.0f, 255.0f}).reshape({1, 2, 3});
  EXPECT_TRUE(at::equal(back.data, expected)) << back.data;
}

TEST(VolumeWriter, IntegerLabelsConvertAndClampWithoutFloat) {
  TempDir dir;
  Volume v = oblique_volume();
  v.geometry.size = {3, 2, 1};
  v.data = at::tensor({0, 1, 2, 255, 7, 3}, at::kShort).reshape({1, 2, 3});  // all within uint8
  write_volume(v, dir / "in_range.nii.gz", PixelType::kUInt8);
  EXPECT_TRUE(at::equal(read_volume(dir / "in_range.nii.gz").data, v.data.to(at::kFloat)));
  v.data = at::tensor({-5, 0, 300, 255, 1, 32767}, at::kShort).reshape({1, 2, 3});
  write_volume(v, dir / "clamped.nii.gz", PixelType::kUInt8);
  EXPECT_TRUE(at::equal(read_volume(dir / "clamped.nii.gz").data,
                        at::tensor({0.0f, 0.0f, 255.0f, 255.0f, 1.0f, 255.0f}).reshape({1, 2, 3})));
  v.data = at::tensor({-1, 0, 70000, 65535, 40000, 5}, at::kInt).reshape({1, 2, 3});
  write_volume(v, dir / "u16.nrrd", PixelType::kUInt16);
  const Volume back = read_volume(dir / "u16.nrrd");
  EXPECT_EQ(back.pixel_type, "uint16");
  EXPECT_TRUE(at::equal(back.data, at::tensor({0.0f, 0.0f, 65535.0f, 65535.0f, 40000.0f, 5.0f}).reshape({1, 2, 3})));
}

TEST(VolumeWriter, CompressedNiftiIsReadByItksOwnReader) {
  // .nii.gz is compressed by libdeflate, not ITK: ITK (zlib) must read it.
  TempDir dir;
  const Volume original = oblique_volume();
  write_volume(original, dir / "v.nii.gz", PixelType::kFloat32);
  auto reader = itk::ImageFileReader<itk::Image<float, 3>>::New();
  reader->SetFileName((dir / "v.nii.gz").string());
  reader->Update();
  const auto* image = reader->GetOutput();
  ASSERT_EQ(static_cast<std::int64_t>(image->GetLargestPossibleRegion().GetNumberOfPixels()), original.data.numel());
  const at::Tensor itk_voxels = at::from_blob(const_cast<float*>(image->GetBufferPointer()), original.data.sizes());
  EXPECT_TRUE(at::equal(itk_voxels, original.data));
  for (unsigned d = 0; d < 3; ++d) EXPECT_NEAR(image->GetOrigin()[d], original.geometry.origin[d], 1e-4);
}

TEST(VolumeWriter, LeavesNoTemporaryFileBehind) {
  TempDir dir;
  write_volume(oblique_volume(), dir / "out.nii.gz");
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "out.nii.gz");
  }
  EXPECT_EQ(files, 1u);
}

TEST(VolumeWriter, MissingFolderIsAClearErrorAndWritesNothing) {
  TempDir dir;
  try {
    write_volume(oblique_volume(), dir / "missing" / "out.nii.gz");
    FAIL() << "no error";
  } catch (const IoError& e) {
    // Names the file and which folder is missing.
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "missing" / "out.nii.gz").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("folder '" + (dir / "missing").string() + "' does not exist"), std::string::npos) << msg;
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(VolumeWriter, UnsupportedExtensionIsRefused) {
  TempDir dir;
  EXPECT_THROW(write_volume(oblique_volume(), dir / "out.png"), IoError);
  EXPECT_THROW(parse_pixel_type("int8"), ConfigError);
}

}  // namespace
}  // namespace medseg::pipeline
