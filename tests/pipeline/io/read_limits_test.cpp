// Issue 17, resource bounds: a header's claim is checked before anything is
// allocated for it, and a .nii.gz may not inflate far beyond its header.
#include "pipeline/io/read_limits.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "pipeline/io/gzip_file.h"
#include "pipeline/io/volume_reader.h"
#include "tests/pipeline/common/dicom_series_writer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;
namespace fs = std::filesystem;

// Restores the process-wide limit whatever the test does.
class LimitGuard {
 public:
  explicit LimitGuard(std::uint64_t voxels) : saved_(max_voxels()) { set_max_voxels(voxels); }
  ~LimitGuard() { set_max_voxels(saved_); }
  LimitGuard(const LimitGuard&) = delete;
  LimitGuard& operator=(const LimitGuard&) = delete;

 private:
  std::uint64_t saved_;
};

std::string read_error(const fs::path& path) {
  try {
    read_volume(path);
  } catch (const IoError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "reading " << path << " did not throw";
  return {};
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(ReadLimits, DefaultIsDocumentedAndZeroIsRefused) {
  EXPECT_EQ(kDefaultMaxVoxels, 1024ull * 1024 * 1024);
  EXPECT_EQ(max_voxels(), kDefaultMaxVoxels);
  EXPECT_THROW(set_max_voxels(0), ConfigError);
}

TEST(ReadLimits, CountOverflowingSixtyFourBitsIsRefused) {
  try {
    check_voxel_count("x.nrrd", {1ull << 40, 1ull << 40, 1ull << 40});
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_HAS(std::string(e.what()), "1099511627776x1099511627776x1099511627776 = more than 2^64 voxels");
  }
}

// A 352-byte file whose header claims 30000^3 int16 voxels (54 TB).
TEST(ReadLimits, HugeNiftiHeaderIsRefusedBeforeReading) {
  TempDir dir;
  test::write_nifti_raw(dir / "huge.nii", {30000, 30000, 30000}, {1, 1, 1}, 4, 16, "");
  const std::string m = read_error(dir / "huge.nii");
  EXPECT_HAS(m, "the header claims 30000x30000x30000 = 27000000000000 voxels, more than the limit of 1073741824");
  EXPECT_HAS(m, "--max-voxels");
}

TEST(ReadLimits, HugeNrrdAndMetaImageHeadersAreRefused) {
  TempDir dir;
  test::write_text(dir / "huge.nrrd",
                   "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 100000 100000 100000\nspacings: 1 1 1\n"
                   "encoding: raw\n\n" + std::string(8, '\0'));
  EXPECT_HAS(read_error(dir / "huge.nrrd"), "claims 100000x100000x100000 = 1000000000000000 voxels");
  test::write_text(dir / "huge.mha",
                   "ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 1\nElementSpacing = 1 1 1\n"
                   "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + std::string(8, '\0'));
  EXPECT_HAS(read_error(dir / "huge.mha"), "claims 100000x100000x1 = 10000000000 voxels");
}

// The limit is what refuses: just below the image's count it is refused,
// at its count it reads.
TEST(ReadLimits, RaisingTheLimitLetsTheImageThrough) {
  TempDir dir;
  test::write_nifti_int16(dir / "small.nii", {5, 4, 3}, {1, 1, 1});
  {
    const LimitGuard limit(59);
    EXPECT_HAS(read_error(dir / "small.nii"), "claims 5x4x3 = 60 voxels, more than the limit of 59");
  }
  const LimitGuard limit(60);
  EXPECT_EQ(read_volume(dir / "small.nii").geometry.size, (std::array<std::int64_t, 3>{5, 4, 3}));
}

TEST(ReadLimits, DicomSeriesIsRefusedFromItsHeaders) {
  TempDir dir;
  test::DicomSeriesSpec spec;
  for (int k = 0; k < 4; ++k) spec.positions.push_back({0.0, 0.0, 2.0 * k});
  test::write_dicom_series(dir / "s", spec);
  {
    const LimitGuard limit(6 * 5 * 4 - 1);
    EXPECT_HAS(read_error(dir / "s"), "claims 6x5x4 = 120 voxels, more than the limit of 119");
  }
  EXPECT_EQ(read_volume(dir / "s").geometry.size, (std::array<std::int64_t, 3>{6, 5, 4}));
}

// A .nii.gz whose header announces 4x4x4 int16 voxels (128 bytes) but whose
// stream inflates to 16 MiB more.
TEST(ReadLimits, DecompressionBombIsRefusedAndSmallSlackIsNot) {
  TempDir dir;
  std::string voxels(4 * 4 * 4 * 2, '\0');
  test::write_nifti_raw(dir / "bomb.nii", {4, 4, 4}, {1, 1, 1}, 4, 16, voxels + std::string(16 << 20, '\0'));
  gzip_file(dir / "bomb.nii", dir / "bomb.nii.gz", 9);
  EXPECT_LT(fs::file_size(dir / "bomb.nii.gz"), 100'000u);
  EXPECT_HAS(read_error(dir / "bomb.nii.gz"), "decompresses to more than twice the 128 bytes of voxel data");

  test::write_nifti_raw(dir / "slack.nii", {4, 4, 4}, {1, 1, 1}, 4, 16, voxels + std::string(1000, '\0'));
  gzip_file(dir / "slack.nii", dir / "slack.nii.gz", 9);
  EXPECT_EQ(read_volume(dir / "slack.nii.gz").geometry.size, (std::array<std::int64_t, 3>{4, 4, 4}));

  // A datatype whose bitpix disagrees goes to ITK after medseg's
  // full-file check, which stops reading at the bound.
  test::write_nifti_raw(dir / "odd.nii", {2, 2, 2}, {1, 1, 1}, 4, 32,
                        std::string(32, '\0') + std::string(16 << 20, '\0'));
  gzip_file(dir / "odd.nii", dir / "odd.nii.gz", 9);
  EXPECT_HAS(read_error(dir / "odd.nii.gz"), "decompresses to more than twice the 32 bytes");
}

// vox_offset is a header claim too: 2^31 bytes of "extensions" were once
// allocated to be skipped.
TEST(ReadLimits, AbsurdVoxOffsetIsRefused) {
  TempDir dir;
  test::write_nifti_int16(dir / "offset.nii", {4, 4, 4}, {1, 1, 1});
  {
    std::fstream f(dir / "offset.nii", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(108);
    const float offset = 2.5e9f;
    f.write(reinterpret_cast<const char*>(&offset), sizeof(offset));
  }
  EXPECT_HAS(read_error(dir / "offset.nii"), "invalid NIfTI vox_offset 2.5e+09");
}

}  // namespace
}  // namespace medseg::pipeline
