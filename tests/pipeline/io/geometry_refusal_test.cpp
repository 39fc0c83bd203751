// Issue 17, refuse instead of guess: a NIfTI whose declared orientation is
// singular or not finite is bad input (ITK fell back to another transform
// while VNL printed its SVD failure on stderr), and nothing from ITK, VNL
// or GDCM reaches stderr.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "pipeline/io/detail/itk_messages.h"
#include "pipeline/io/volume_reader.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;
namespace fs = std::filesystem;

template <typename T>
void patch(const fs::path& file, std::streamoff offset, T value) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  f.write(reinterpret_cast<const char*>(&value), sizeof(value));
}

// The error message, and that stderr stayed silent meanwhile.
std::string quiet_read_error(const fs::path& path) {
  testing::internal::CaptureStderr();
  std::string message;
  try {
    read_volume(path);
    ADD_FAILURE() << "reading " << path << " did not throw";
  } catch (const IoError& e) {
    message = e.what();
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

const std::vector<float> kIdentity{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

TEST(GeometryRefusal, SingularSformIsRefused) {
  TempDir dir;
  // Three equal rows: rank 1.
  test::write_nifti_int16(dir / "flat.nii", {4, 5, 6}, {1, 1, 1}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0});
  EXPECT_HAS(quiet_read_error(dir / "flat.nii"), "sform (srow_x/y/z) is singular (determinant 0)");
  test::write_nifti_int16(dir / "zero.nii", {4, 5, 6}, {1, 1, 1}, std::vector<float>(12, 0.0f));
  EXPECT_HAS(quiet_read_error(dir / "zero.nii"), "is singular");
}

TEST(GeometryRefusal, NonFiniteSformOrQformIsRefused) {
  TempDir dir;
  std::vector<float> srow = kIdentity;
  srow[5] = std::nanf("");
  test::write_nifti_int16(dir / "nan_sform.nii", {4, 5, 6}, {1, 1, 1}, srow);
  EXPECT_HAS(quiet_read_error(dir / "nan_sform.nii"), "sform (srow_x/y/z) holds a non-finite value");

  test::write_nifti_int16(dir / "nan_qform.nii", {4, 5, 6}, {1, 1, 1});
  patch(dir / "nan_qform.nii", 252, std::int16_t{1});           // qform_code
  patch(dir / "nan_qform.nii", 260, INFINITY);                  // quatern_c
  EXPECT_HAS(quiet_read_error(dir / "nan_qform.nii"), "qform (quatern_b/c/d, qoffset) holds a non-finite value");
}

// Found by fuzz/targets/fuzz_nifti.cpp: a finite but absurd sform offset
// (-2e38 mm) sent ITK's single-precision SVD (vnl_svd<float>, LINPACK ssvdc)
// into a loop that never ended: `medseg info` hung on a 552-byte file.
TEST(GeometryRefusal, PositionsBeyondAKilometreAreRefusedBeforeItkSeesThem) {
  TempDir dir;
  test::write_nifti_int16(dir / "far.nii", {4, 3, 2}, {0.9f, 0.9f, 2.5f},
                          {-0.9f, 0.1f, 0, -2.1267648e38f, 0.1f, 0.9f, 0, -5, 0, 0, 2.5f, 3});
  EXPECT_HAS(quiet_read_error(dir / "far.nii"), "sform (srow_x/y/z) holds -2.12676e+38 mm, beyond +-1e6 mm");
  test::write_nifti_int16(dir / "far_qform.nii", {4, 5, 6}, {1, 1, 1});
  patch(dir / "far_qform.nii", 252, std::int16_t{1});  // qform_code
  patch(dir / "far_qform.nii", 268, 3e7f);             // qoffset_x: 30 km
  EXPECT_HAS(quiet_read_error(dir / "far_qform.nii"), "qform (quatern_b/c/d, qoffset) holds 3e+07, beyond +-1e6");
  test::write_nifti_int16(dir / "huge_voxels.nii", {4, 5, 6}, {1, 1, 2e6f});
  EXPECT_HAS(quiet_read_error(dir / "huge_voxels.nii"), "spacing along k is 2e+06 mm");
  // A large but real field of view still reads: 1000 mm away from the origin.
  test::write_nifti_int16(dir / "offset.nii", {4, 5, 6}, {1, 1, 1}, {1, 0, 0, 1000, 0, 1, 0, -1000, 0, 0, 1, 500});
  EXPECT_NO_THROW(read_volume(dir / "offset.nii"));
}

// Found by fuzz_nifti: NIfTI-1's magic with a sizeof_hdr other than 348
// passed medseg's header checks unchecked (taken for NIfTI-2) while ITK read
// it as NIfTI-1, and an infinite srow value aborted the process in VNL
// (vnl_matrix<float>::assert_finite_internal).
TEST(GeometryRefusal, ANifti1HeaderWithAWrongSizeIsRefused) {
  TempDir dir;
  std::vector<float> srow = kIdentity;
  srow[10] = INFINITY;
  test::write_nifti_int16(dir / "size.nii", {3, 3, 3}, {1, 1, 1}, srow);
  patch(dir / "size.nii", 0, std::int32_t{0x0100015c});  // sizeof_hdr: 348 with a flipped bit
  EXPECT_HAS(quiet_read_error(dir / "size.nii"), "invalid NIfTI-1 header: sizeof_hdr is 16777564, not 348");
  // niftilib takes "n+2" at byte 344 for a NIfTI header too (the fuzzer's second find)
  patch(dir / "size.nii", 344, std::array<char, 4>{'n', '+', '2', '\0'});
  EXPECT_HAS(quiet_read_error(dir / "size.nii"), "invalid NIfTI-1 header: sizeof_hdr is 16777564, not 348");
}

// Found by fuzz_metaimage: with NDims = -1, ITK's MetaIO read DimSize as
// 2^32 - 1 numbers from an exhausted stream and never returned.
TEST(GeometryRefusal, AMetaImageWithoutAValidNumberOfAxesIsRefused) {
  TempDir dir;
  for (const std::string ndims : {"-1", "0", "11", "3.5", "x"}) {
    test::write_text(dir / "bad.mha", "ObjectType = Image\nNDims = " + ndims +
                                          "\nDimSize = 2 2 0\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n" +
                                          std::string(4, '\0'));
    EXPECT_HAS(quiet_read_error(dir / "bad.mha"), "MetaImage NDims is '" + ndims + "', not a number of axes from 1 to 10");
  }
  // fuzz_metaimage (session 9, 10-minute run): "NDims" without "= N" made
  // MetaIO read DimSize with a garbage count forever; `medseg info` hung on
  // this 3-line header (minimized from the fuzzer's 291 bytes).
  for (const std::string& header : {std::string("NDims \nDimSize = -1  262\nDimSize = -1  262"),
                                    std::string("ObjectType = Image\n  NDims\t\r\nDimSize = 2 2 1\n")}) {
    test::write_text(dir / "no_value.mha", header);
    EXPECT_HAS(quiet_read_error(dir / "no_value.mha"), "MetaImage NDims has no value");
  }
  // fuzz_metaimage again: a numbered file pattern with a step of 0 made MetaIO divide by zero (SIGFPE)
  test::write_text(dir / "pattern.mha", "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\n"
                                        "ElementDataFile = slice%d.raw 1 2 0\n");
  EXPECT_HAS(quiet_read_error(dir / "pattern.mha"), "MetaImage ElementDataFile 'slice%d.raw 1 2 0' is a numbered file pattern");
  test::write_text(dir / "good.mha", "ObjectType = Image\nNDims = 3\nDimSize = 2 2 1\nElementType = MET_UCHAR\n"
                                     "ElementDataFile = LOCAL\n" + std::string(4, '\0'));
  EXPECT_NO_THROW(read_volume(dir / "good.mha"));
}

// Found by fuzz_metaimage (10-minute run): MetaIO copies a header field's name
// into a char[255] with strcpy; a 272-character name made Debian's fortified
// MetaIO abort the process ("buffer overflow detected"). 254 characters is
// the longest name it holds; a line without '=' and one ending at '\r' are
// names too.
TEST(GeometryRefusal, AMetaImageFieldNameTooLongForMetaIOIsRefused) {
  TempDir dir;
  const std::string head = "ObjectType = Image\nNDims = 3\n";
  const std::string tail = "DimSize = 2 2 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + std::string(4, '\0');
  for (const std::string& line : {std::string(255, 'K') + " = 1\n", "  " + std::string(300, 'K') + "\n",
                                  std::string(300, 'K') + "\r= 1\n"}) {
    test::write_text(dir / "long.mha", head + line + tail);
    EXPECT_HAS(quiet_read_error(dir / "long.mha"), "MetaImage header field name 'KKKK");
    EXPECT_HAS(quiet_read_error(dir / "long.mha"), "MetaIO reads names of at most 254");
  }
  // 254 characters, with blanks around them, are read as before
  test::write_text(dir / "fits.mha", head + "  " + std::string(254, 'K') + "   = 1\n" + tail);
  EXPECT_NO_THROW(read_volume(dir / "fits.mha"));
}

TEST(GeometryRefusal, ScaledObliqueSformIsAccepted) {
  TempDir dir;
  // 0.1 mm voxels: a small determinant, still a proper orientation.
  test::write_nifti_int16(dir / "fine.nii", {4, 5, 6}, {0.1f, 0.1f, 0.1f},
                          {0, 0.1f, 0, 0, 0.1f, 0, 0, 0, 0, 0, 0.1f, 0});
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(read_volume(dir / "fine.nii"));
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(GeometryRefusal, NonFiniteSpacingIsRefused) {
  TempDir dir;
  test::write_nifti_int16(dir / "inf.nii", {4, 5, 6}, {1, INFINITY, 1});
  EXPECT_HAS(quiet_read_error(dir / "inf.nii"), "spacing along j is inf mm");
  test::write_text(dir / "nan.nrrd",
                   "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nspace: left-posterior-superior\n"
                   "space directions: (1,0,0) (0,nan,0) (0,0,1)\nencoding: raw\n\n" + std::string(8, '\0'));
  quiet_read_error(dir / "nan.nrrd");
}

// VNL writes its complaints to std::cerr, niftilib with fprintf(stderr).
TEST(GeometryRefusal, StderrCaptureKeepsLibraryTextOffStderr) {
  testing::internal::CaptureStderr();
  {
    const itk_messages::StderrCapture outer;
    std::cerr << "vnl_svd.hxx: suspicious return value (3) from SVDC\n";
    {
      const itk_messages::StderrCapture inner;
      std::cerr << "M is 3x3\n";
    }
    std::fprintf(stderr, "** ERROR: nifti_convert_nhdr2nim: bad datatype\n");
    std::cerr << "still captured\n";
  }
  std::cerr << "after\n";
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "after\n");
}

}  // namespace
}  // namespace medseg::pipeline
