#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImageSeriesReader.h>

#include <chrono>
#include <cstdlib>

#include "core/error.h"
#include "pipeline/io/read_limits.h"
#include "tests/pipeline/common/dicom_series_writer.h"
#include "pipeline/io/dicom_screen.h"
#include "pipeline/io/volume_reader.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::DicomSeriesSpec;

DicomSeriesSpec oblique_series(int slices) {
  DicomSeriesSpec spec;
  const double c = std::cos(0.3), s = std::sin(0.3);  // rotated about x
  spec.direction = {1, 0, 0, 0, c, -s, 0, s, c};
  for (int k = 0; k < slices; ++k) {
    // Along the slice normal (third column) by 2 mm per slice.
    spec.positions.push_back({-10.0, 5.0 - 2.0 * s * k, 7.0 + 2.0 * c * k});
  }
  return spec;
}

void expect_read_error(const std::filesystem::path& path, const std::string& reason) {
  try {
    read_volume(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(DicomSeries, ObliqueSeriesGeometryAndSliceOrder) {
  test::TempDir dir;
  test::write_dicom_series(dir / "s", oblique_series(4));
  const Volume v = read_volume(dir / "s");
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{6, 5, 4}));
  EXPECT_NEAR(v.geometry.spacing[2], 2.0, 1e-4);
  EXPECT_NEAR(v.geometry.spacing[0], 0.8, 1e-6);
  EXPECT_NEAR(v.geometry.origin[1], 5.0, 1e-4);
  EXPECT_NEAR(v.geometry.direction_at(1, 1), std::cos(0.3), 1e-5);
  EXPECT_NEAR(v.geometry.direction_at(1, 2), -std::sin(0.3), 1e-5);
  // Slice k holds 100 k + index.
  EXPECT_EQ(v.data[3][0][0].item<float>(), 300.0f);
  EXPECT_EQ(v.data[1][2][3].item<float>(), 100.0f + 2 * 6 + 3);
}

// The slices are decoded on several threads; ITK's own series reader (over
// the file order of ITK's own GDCMSeriesFileNames) is the reference for
// every voxel and the geometry.
void expect_same_as_itk_series_reader(const std::filesystem::path& folder, const Volume& v) {
  using Image = itk::Image<float, 3>;
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetDirectory(folder.string());
  const auto uids = names->GetSeriesUIDs();
  ASSERT_EQ(uids.size(), 1u);
  auto reader = itk::ImageSeriesReader<Image>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(names->GetFileNames(uids.front()));
  reader->Update();
  const Image* ref = reader->GetOutput();
  const auto size = ref->GetLargestPossibleRegion().GetSize();
  ASSERT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{static_cast<std::int64_t>(size[0]),
                                                          static_cast<std::int64_t>(size[1]),
                                                          static_cast<std::int64_t>(size[2])}));
  for (int d = 0; d < 3; ++d) {
    EXPECT_DOUBLE_EQ(v.geometry.spacing[d], ref->GetSpacing()[d]);
    EXPECT_DOUBLE_EQ(v.geometry.origin[d], ref->GetOrigin()[d]);
    for (int c = 0; c < 3; ++c) EXPECT_DOUBLE_EQ(v.geometry.direction_at(d, c), ref->GetDirection()[d][c]);
  }
  const at::Tensor expected =
      at::from_blob(const_cast<float*>(ref->GetBufferPointer()),
                    {static_cast<std::int64_t>(size[2]), static_cast<std::int64_t>(size[1]),
                     static_cast<std::int64_t>(size[0])},
                    at::kFloat);
  EXPECT_TRUE(at::equal(v.data, expected));
}

TEST(DicomSeries, SlicesReadOnSeveralThreadsMatchItkSeriesReader) {
  at::set_num_threads(2);
  test::TempDir dir;
  DicomSeriesSpec spec = oblique_series(7);
  spec.columns = 40;
  spec.rows = 30;
  test::write_dicom_series(dir / "s", spec);
  const Volume v = read_volume(dir / "s");
  expect_same_as_itk_series_reader(dir / "s", v);
  // Slice k holds 100 k + index (the writer's pattern), in position order.
  EXPECT_EQ(v.data[6][29][39].item<float>(), 600.0f + 29 * 40 + 39);
  // Reading a series listed beforehand gives the same volume.
  const auto series = list_dicom_series(dir / "s");
  ASSERT_EQ(series.size(), 1u);
  const Volume listed = read_dicom_series(dir / "s", series.front());
  EXPECT_TRUE(at::equal(listed.data, v.data));
  EXPECT_EQ(listed.geometry.origin, v.geometry.origin);
}

TEST(DicomSeries, RealTwoSliceSeriesMatchesItkSeriesReader) {
  const std::filesystem::path a = test::nibabel_data_dir() / "0.dcm";
  MEDSEG_REQUIRE_FILE(a);
  at::set_num_threads(2);
  test::TempDir dir;
  std::filesystem::create_directories(dir / "s");
  std::filesystem::copy_file(a, dir / "s/0.dcm");
  std::filesystem::copy_file(test::nibabel_data_dir() / "1.dcm", dir / "s/1.dcm");
  expect_same_as_itk_series_reader(dir / "s", read_volume(dir / "s"));
}

TEST(DicomSeries, ASliceOfAnotherSizeIsRefused) {
  test::TempDir dir;
  DicomSeriesSpec spec = oblique_series(4);
  test::write_dicom_series(dir / "s", spec);
  DicomSeriesSpec odd = oblique_series(5);
  odd.positions.erase(odd.positions.begin(), odd.positions.begin() + 4);  // the fifth position
  odd.columns = 7;
  test::write_dicom_series(dir / "odd", odd);
  std::filesystem::rename(dir / "odd/slice1.dcm", dir / "s/slice5.dcm");
  // Refused from the headers, before a slice of another (perhaps huge) size is decoded.
  expect_read_error(dir / "s", "slice5.dcm' is 7x5, not 6x5 like '");
}

// A DICOM decoder that hangs on a file (MEDSEG_TEST_HANG_ON_FILE stands in
// for one: the isolated reader's child sleeps for ever when it reaches that
// file) costs the time limit and an error naming the file, never a caller
// that hangs with it: when listing the folder and when reading the series.
TEST(DicomSeries, AFileThatHangsTheDecoderIsAnErrorAfterTheTimeout) {
  test::TempDir dir;
  test::write_dicom_series(dir / "s", oblique_series(4));
  const auto series = list_dicom_series(dir / "s");
  ASSERT_EQ(series.size(), 1u);
  const double saved = dicom_timeout_seconds();
  set_dicom_timeout_seconds(1.0);
  ::setenv("MEDSEG_TEST_HANG_ON_FILE", "slice3.dcm", 1);
  const auto start = std::chrono::steady_clock::now();
  for (const bool listing : {true, false}) {
    try {
      if (listing) {
        list_dicom_series(dir / "s");
      } else {
        read_dicom_series(dir / "s", series.front());
      }
      ADD_FAILURE() << "no error";
    } catch (const IoError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("file 'slice3.dcm' hangs the DICOM decoder (GDCM: no result within 1 s, stopped)"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find((dir / "s").string()), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  ::unsetenv("MEDSEG_TEST_HANG_ON_FILE");
  set_dicom_timeout_seconds(saved);
  // Twice (timeout + the one-by-one search, ~1 s each) and some slack.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
  EXPECT_EQ(read_dicom_series(dir / "s", series.front()).geometry.size[2], 4);
  EXPECT_THROW(set_dicom_timeout_seconds(0.0), ConfigError);
}

// pydicom's single-frame RT Dose files lack Number of Frames (0028,0008);
// Debian's GDCM aborts the process on them (an assert). They are refused by
// name, alone or in a folder, where the other files still form a series. (A
// regression aborts this test binary instead of failing one expectation.)
TEST(DicomScreen, RtDoseWithoutNumberOfFramesIsRefusedNotAborted) {
  const std::filesystem::path dose = test::pydicom_dir() / "rtdose_1frame.dcm";
  MEDSEG_REQUIRE_FILE(dose);
  EXPECT_NE(gdcm_crash_reason(dose.string()), "");
  // pydicom reads Number of Frames '15' in rtdose.dcm: GDCM reads it fine.
  EXPECT_EQ(gdcm_crash_reason((test::pydicom_dir() / "rtdose.dcm").string()), "");
  EXPECT_EQ(gdcm_crash_reason((test::pydicom_dir() / "CT_small.dcm").string()), "");
  EXPECT_EQ(gdcm_crash_reason((test::samples_dir() / "ct/head_ct.nii.gz").string()), "");  // not DICOM
  test::TempDir dir;
  std::filesystem::copy_file(dose, dir / "dose.dcm");
  std::filesystem::copy_file(dose, dir / "dose_without_extension");
  expect_read_error(dir / "dose.dcm", "RT Dose without Number of Frames (0028,0008)");
  expect_read_error(dir / "dose_without_extension", "RT Dose without Number of Frames (0028,0008)");

  test::write_dicom_series(dir / "s", oblique_series(4));
  std::filesystem::copy_file(dose, dir / "s/dose.dcm");
  const auto series = list_dicom_series(dir / "s");
  ASSERT_EQ(series.size(), 1u);
  ASSERT_EQ(series.front().files.size(), 4u);
  for (const auto& file : series.front().files) {
    EXPECT_EQ(std::filesystem::path(file).parent_path(), dir / "s") << file;
    EXPECT_EQ(std::filesystem::path(file).filename().string().rfind("slice", 0), 0u) << file;
  }
  EXPECT_EQ(read_volume(dir / "s").geometry.size, (std::array<std::int64_t, 3>{6, 5, 4}));
}

TEST(DicomSeries, StoredWindowIsTheFirstOfSeveralAndOnlyAUsableOne) {
  test::TempDir dir;
  DicomSeriesSpec spec = oblique_series(3);
  spec.window_center = "40\\-600";  // brain and lung windows stored together
  spec.window_width = "80\\1500";
  spec.patient_name = "Doe^Jane";
  spec.study_date = "20250314";
  test::write_dicom_series(dir / "two", spec);
  const Volume v = read_volume(dir / "two");
  ASSERT_TRUE(v.metadata.window_center.has_value());
  EXPECT_EQ(*v.metadata.window_center, 40.0);
  EXPECT_EQ(*v.metadata.window_width, 80.0);
  const auto listed = list_dicom_series(dir / "two");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].patient_name, "Doe^Jane");
  EXPECT_EQ(listed[0].study_date, "20250314");

  spec.window_center = "40";
  spec.window_width = "0";  // not a window: ignored, the viewer's default applies
  test::write_dicom_series(dir / "zero", spec);
  EXPECT_FALSE(read_volume(dir / "zero").metadata.window_width.has_value());
  spec.window_width = "wide";
  test::write_dicom_series(dir / "text", spec);
  EXPECT_FALSE(read_volume(dir / "text").metadata.window_center.has_value());
}

TEST(DicomSeries, MissingSliceIsRefused) {
  test::TempDir dir;
  DicomSeriesSpec spec = oblique_series(5);
  spec.positions.erase(spec.positions.begin() + 2);
  test::write_dicom_series(dir / "s", spec);
  expect_read_error(dir / "s", "slice spacing varies from 2 to 4 mm");
}

TEST(DicomSeries, DuplicatePositionIsRefused) {
  test::TempDir dir;
  DicomSeriesSpec spec = oblique_series(3);
  spec.positions.push_back(spec.positions[1]);
  test::write_dicom_series(dir / "s", spec);
  expect_read_error(dir / "s", "same position");
}

TEST(DicomSeries, GantryTiltIsRefused) {
  test::TempDir dir;
  DicomSeriesSpec spec;
  // Axial slices 2 mm apart whose positions also slide 0.5 mm per slice
  // along y: a 14-degree gantry tilt.
  for (int k = 0; k < 4; ++k) spec.positions.push_back({0.0, 0.5 * k, 2.0 * k});
  test::write_dicom_series(dir / "s", spec);
  expect_read_error(dir / "s", "gantry tilt");
}
}  // namespace
}  // namespace medseg::pipeline
