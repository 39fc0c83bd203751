// DICOM SEG writing and reading (pipeline/io/dicom_seg.h), the colour
// conversion and segment codes it uses, and the DICOM series writer, on the
// CT sample and on small oblique series written independently with ITK/GDCM.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/grid_compare.h"
#include "pipeline/io/cielab.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/dicom_series_writer.h"
#include "pipeline/io/segment_codes.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/preprocess/reorient.h"
#include "tests/pipeline/common/dicom_series_writer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;

// CIELab (D50, Bradford-adapted sRGB) of pure red and white, from Bruce
// Lindbloom's calculator: red L 54.29, a 80.80, b 69.89; white L 100, a 0, b 0.
TEST(CieLab, SrgbRedAndWhiteMatchPublishedLabValues) {
  const auto scaled = [](double l, double a, double b) {
    return std::array<double, 3>{l / 100.0 * 65535.0, (a + 128.0) / 255.0 * 65535.0, (b + 128.0) / 255.0 * 65535.0};
  };
  const auto red = srgb_to_dicom_lab({255, 0, 0});
  const auto red_expected = scaled(54.29, 80.80, 69.89);
  const auto white = srgb_to_dicom_lab({255, 255, 255});
  const auto white_expected = scaled(100.0, 0.0, 0.0);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(red[c], red_expected[c], 0.05 / 100.0 * 65535.0 + 30) << c;  // 0.05 L* / a* units
    EXPECT_NEAR(white[c], white_expected[c], 30) << c;
  }
  EXPECT_EQ(srgb_to_dicom_lab({0, 0, 0})[0], 0);
}

TEST(CieLab, RoundTripsEverySrgbColourOfAGrid) {
  for (int r = 0; r < 256; r += 15) {
    for (int g = 0; g < 256; g += 15) {
      for (int b = 0; b < 256; b += 15) {
        const std::array<std::uint8_t, 3> rgb{static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(g),
                                              static_cast<std::uint8_t>(b)};
        const auto back = dicom_lab_to_srgb(srgb_to_dicom_lab(rgb));
        for (int c = 0; c < 3; ++c) ASSERT_NEAR(back[c], rgb[c], 1) << r << " " << g << " " << b;
      }
    }
  }
}

TEST(SegmentCodes, BundledLabelsHaveSnomedCodesAndOthersTheGenericOne) {
  EXPECT_EQ(segment_codes_for("bone").type.value, "272673000");
  EXPECT_EQ(segment_codes_for("tissue").type.value, "87784001");
  EXPECT_EQ(segment_codes_for("Brain").type.value, "12738006");
  EXPECT_EQ(segment_codes_for("brain").category.value, "123037004");
  EXPECT_TRUE(segment_codes_for("bone").known);
  const SegmentCodes other = segment_codes_for("tumour core");
  EXPECT_FALSE(other.known);
  EXPECT_EQ(other.type.value, "85756007");
  EXPECT_EQ(other.type.scheme, "SCT");
}

test::DicomSeriesSpec oblique_spec(int slices) {
  test::DicomSeriesSpec spec;
  spec.columns = 7;
  spec.rows = 5;
  const double c = std::cos(0.4), s = std::sin(0.4);  // rotated about x
  spec.direction = {1, 0, 0, 0, c, -s, 0, s, c};
  for (int k = 0; k < slices; ++k) spec.positions.push_back({-10.0, 5.0 - 2.0 * s * k, 7.0 + 2.0 * c * k});
  return spec;
}

std::vector<std::string> files_of(const fs::path& folder) {
  const auto series = list_dicom_series(folder);
  EXPECT_EQ(series.size(), 1u);
  return series.empty() ? std::vector<std::string>{} : series.front().files;
}

/// Labels 1 and 3 on a few slices of the scan's grid; slices 0, 2 and the
/// last one empty, label 2 absent.
Volume some_labels(const Volume& scan) {
  Volume labels = scan;
  labels.data = at::zeros_like(scan.data, at::kShort);
  const auto d = scan.geometry.size[2];
  labels.data.index_put_({1, 0, 0}, 1);
  labels.data.index_put_({1, 2, 3}, 3);
  labels.data.index_put_({3, 4, 6}, 1);
  labels.data.index_put_({d - 2, 1, 1}, 3);
  labels.data.index_put_({d - 2, 1, 2}, 3);
  return labels;
}

TEST(DicomSeg, ObliqueSeriesRoundTripsByteForByteOnTheScansGrid) {
  test::TempDir tmp;
  test::write_dicom_series(tmp / "series", oblique_spec(9));
  const Volume scan = read_volume(tmp / "series");
  const Volume labels = some_labels(scan);
  DicomSegWriteOptions options;
  options.labels = {{1, "bone", {255, 0, 0}}, {3, "tumour", {0, 0, 255}}};
  write_dicom_seg(labels, files_of(tmp / "series"), tmp / "seg.dcm", options);
  ASSERT_TRUE(is_dicom_seg(tmp / "seg.dcm"));
  EXPECT_FALSE(is_dicom_seg(files_of(tmp / "series").front()));

  const Volume back = read_dicom_seg(tmp / "seg.dcm", scan.geometry);
  EXPECT_TRUE(grid_difference(back.geometry, scan.geometry).empty());
  ASSERT_EQ(back.data.scalar_type(), at::kShort);
  EXPECT_TRUE(back.data.equal(labels.data));

  ReadOptions ro;
  ro.seg_grid = scan.geometry;
  EXPECT_TRUE(read_label_map(tmp / "seg.dcm", ro).data.equal(labels.data));
}

TEST(DicomSeg, WithoutAGridTheFramesSpanTheirOwnStack) {
  test::TempDir tmp;
  test::write_dicom_series(tmp / "series", oblique_spec(9));
  const Volume scan = read_volume(tmp / "series");
  const Volume labels = some_labels(scan);
  write_dicom_seg(labels, files_of(tmp / "series"), tmp / "seg.dcm", {});
  const Volume alone = read_dicom_seg(tmp / "seg.dcm");
  // Slices 1 .. d-2 hold labels: the grid starts at slice 1, same axes.
  const auto d = scan.geometry.size[2];
  EXPECT_EQ(alone.geometry.size[2], d - 2);
  const auto first = scan.geometry.index_to_world({0, 0, 1});
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(alone.geometry.origin[c], first[c], 1e-6);
  Geometry expected = scan.geometry;
  expected.size[2] = d - 2;
  expected.origin = first;
  EXPECT_EQ(grid_difference(alone.geometry, expected), "");
  EXPECT_TRUE(alone.data.equal(labels.data.slice(0, 1, d - 1)));
}

TEST(DicomSeg, InfoListsSegmentsWithLabelValuesNamesCodesAndColours) {
  test::TempDir tmp;
  test::write_dicom_series(tmp / "series", oblique_spec(6));
  const Volume scan = read_volume(tmp / "series");
  DicomSegWriteOptions options;
  options.labels = {{1, "bone", {255, 0, 0}}, {3, "tumour", {0, 0, 255}}};
  options.algorithm_name = "medseg ct_head 1";
  write_dicom_seg(some_labels(scan), files_of(tmp / "series"), tmp / "seg.dcm", options);
  const DicomSegInfo info = read_dicom_seg_info(tmp / "seg.dcm");
  ASSERT_EQ(info.segments.size(), 2u);
  EXPECT_EQ(info.segments[0].number, 1);
  EXPECT_EQ(info.segments[0].label_value, 1);
  EXPECT_EQ(info.segments[0].label, "bone");
  EXPECT_EQ(info.segments[0].type.value, "272673000");
  EXPECT_EQ(info.segments[0].algorithm_type, "AUTOMATIC");
  EXPECT_EQ(info.segments[0].algorithm_name, "medseg ct_head 1");
  EXPECT_EQ(info.segments[0].frames, 2);
  EXPECT_EQ(info.segments[1].number, 2);
  EXPECT_EQ(info.segments[1].label_value, 3);  // not its segment number
  EXPECT_EQ(info.segments[1].label, "tumour");
  EXPECT_EQ(info.segments[1].type.value, "85756007");
  ASSERT_TRUE(info.segments[1].rgb.has_value());
  EXPECT_EQ(*info.segments[1].rgb, (std::array<std::uint8_t, 3>{0, 0, 255}));
  EXPECT_EQ(info.frames, 4);
  ASSERT_EQ(info.referenced_series_uids.size(), 1u);
  EXPECT_EQ(info.referenced_series_uids[0], test::DicomSeriesSpec{}.series_uid);
  EXPECT_NE(info.series_uid, test::DicomSeriesSpec{}.series_uid);
}

template <typename F>
void expect_io_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(DicomSeg, RefusesALabelMapOffTheSeriesGrid) {
  test::TempDir tmp;
  test::write_dicom_series(tmp / "series", oblique_spec(6));
  const Volume scan = read_volume(tmp / "series");
  Volume shifted = some_labels(scan);
  shifted.geometry.origin[0] += 0.5;
  expect_io_error([&] { write_dicom_seg(shifted, files_of(tmp / "series"), tmp / "seg.dcm", {}); },
                  "is on none of the label map's slices");
  Volume fewer = some_labels(scan);
  fewer.geometry.size[2] += 1;
  fewer.data = at::cat({fewer.data, fewer.data.slice(0, 0, 1)});
  expect_io_error([&] { write_dicom_seg(fewer, files_of(tmp / "series"), tmp / "seg.dcm", {}); },
                  "no DICOM slice at k = 6");
  EXPECT_FALSE(fs::exists(tmp / "seg.dcm"));
  Volume empty = some_labels(scan);
  empty.data.zero_();
  expect_io_error([&] { write_dicom_seg(empty, files_of(tmp / "series"), tmp / "seg.dcm", {}); }, "empty");
}

TEST(DicomSeg, RefusesFramesOffTheGivenGrid) {
  test::TempDir tmp;
  test::write_dicom_series(tmp / "series", oblique_spec(6));
  const Volume scan = read_volume(tmp / "series");
  write_dicom_seg(some_labels(scan), files_of(tmp / "series"), tmp / "seg.dcm", {});
  Geometry shifted = scan.geometry;
  shifted.origin[1] += 1.0;
  expect_io_error([&] { read_dicom_seg(tmp / "seg.dcm", shifted); }, "is on none of the grid's");
  Geometry shorter = scan.geometry;
  shorter.size[2] = 3;
  expect_io_error([&] { read_dicom_seg(tmp / "seg.dcm", shorter); }, "is on none of the grid's 3 slices");
  Geometry other_axes = scan.geometry;
  other_axes.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  expect_io_error([&] { read_dicom_seg(tmp / "seg.dcm", other_axes); }, "orientation");
  expect_io_error([&] { read_dicom_seg(files_of(tmp / "series").front()); }, "not a DICOM Segmentation");
}

// From fuzz_dicom_seg (this 3.8 KB file is its input): a SEG whose Pixel
// Data does not fit its frames. DCMTK refuses it (and loses the segments it
// had read, a leak inside libdcmseg that fuzz/lsan.supp names); medseg must
// turn that into one IoError line, for the header and for the label map.
TEST(DicomSeg, ASegWithInvalidPixelDataIsRefused) {
  const fs::path file = fs::path(MEDSEG_SOURCE_DIR) / "tests/pipeline/io/data/seg_invalid_pixel_data.dcm";
  ASSERT_TRUE(is_dicom_seg(file));
  expect_io_error([&] { read_dicom_seg(file); }, "invalid DICOM Segmentation: Invalid Pixel Data");
  expect_io_error([&] { read_dicom_seg_info(file); }, "invalid DICOM Segmentation: Invalid Pixel Data");
}

// The CT sample as a DICOM series (DCMTK writer), read back by ITK/GDCM:
// the same grid and voxels as the NIfTI; its labels as a SEG round trip.
TEST(DicomSeriesWriter, CtSampleReadsBackWithTheSameGridAndValues) {
  const fs::path ct = test::samples_dir() / "ct" / "head_ct.nii.gz";
  const fs::path labels_path = test::samples_dir() / "ct" / "head_ct_labels.nii.gz";
  MEDSEG_REQUIRE_FILE(ct);
  test::TempDir tmp;
  const Volume volume = read_volume(ct);
  const auto files = write_dicom_series(volume, tmp / "ct");
  ASSERT_EQ(files.size(), static_cast<std::size_t>(volume.geometry.size[2]));
  const Volume back = read_volume(tmp / "ct");
  // The sample's grid is left-handed (k along +z, slice normal i x j along
  // -z); ITK's grid of a series runs k along the normal: the same voxels,
  // k reversed.
  EXPECT_NE(grid_difference(back.geometry, volume.geometry), "");
  const auto same = same_voxels_on_grid(volume, back.geometry);
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(back.data.equal(same->data));
  EXPECT_TRUE(back.data.equal(volume.data.flip(0)));
  EXPECT_EQ(back.metadata.modality, "CT");

  const auto labels = same_voxels_on_grid(read_label_map(labels_path), back.geometry);
  ASSERT_TRUE(labels.has_value());
  write_dicom_seg(*labels, files_of(tmp / "ct"), tmp / "seg.dcm", {});
  EXPECT_TRUE(read_dicom_seg(tmp / "seg.dcm", back.geometry).data.equal(labels->data));
  // On the sample's own grid too: frames are placed by position.
  EXPECT_TRUE(read_dicom_seg(tmp / "seg.dcm", volume.geometry).data.equal(read_label_map(labels_path).data));
}

}  // namespace
}  // namespace medseg::pipeline
