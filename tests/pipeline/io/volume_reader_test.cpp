#include "pipeline/io/volume_reader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <itkImage.h>
#include <itkImageFileReader.h>

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "pipeline/io/volume_writer.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
using test::TempDir;
namespace fs = std::filesystem;

bool is_nifti_name(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.size() > 4 && (n.substr(n.size() - 4) == ".nii" || (n.size() > 7 && n.substr(n.size() - 7) == ".nii.gz"));
}

void expect_near_array(const std::array<double, 3>& actual, const std::array<double, 3>& expected,
                       double tol) {
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(actual[i], expected[i], tol) << "component " << i;
}

// Expects read_volume(path) to throw IoError whose one-line message names
// the path and contains `reason`.
void expect_read_error(const fs::path& path, const std::string& reason) {
  try {
    read_volume(path);
    ADD_FAILURE() << "reading " << path << " did not throw";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(reason), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

TEST(VolumeReader, Colin27MatchesItsNiftiAffineInLps) {
  const fs::path ch2 = "/usr/share/mricron/templates/ch2.nii.gz";
  MEDSEG_REQUIRE_FILE(ch2);
  const Volume v = read_volume(ch2);
  // nibabel: shape (181, 217, 181), affine = identity rotation, offset
  // (-90, -125, -71) in RAS. LPS flips the signs of x and y.
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{181, 217, 181}));
  expect_near_array(v.geometry.spacing, {1, 1, 1}, 1e-6);
  expect_near_array(v.geometry.origin, {90, 125, -71}, 1e-4);
  const std::array<double, 9> lps{-1, 0, 0, 0, -1, 0, 0, 0, 1};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(v.geometry.direction[i], lps[i], 1e-6);
  EXPECT_EQ(v.pixel_type, "uint8");
  EXPECT_EQ(v.data.sizes(), (at::IntArrayRef{181, 217, 181}));
}

TEST(VolumeReader, ReadsEverySample) {
  for (const char* name : {"mri/t1.nii.gz", "mri/brain_mask.nii.gz", "ct/head_ct.nii.gz",
                           "ct/head_ct_labels.nii.gz"}) {
    SCOPED_TRACE(name);
    const Volume v = read_volume(test::samples_dir() / name);
    for (int d = 0; d < 3; ++d) EXPECT_DOUBLE_EQ(v.geometry.spacing[d], 2.0);
    EXPECT_EQ(v.data.numel(), v.geometry.num_voxels());
  }
}

TEST(VolumeReader, CtSampleIsInHounsfieldUnits) {
  const Volume ct = read_volume(test::samples_dir() / "ct/head_ct.nii.gz");
  EXPECT_EQ(ct.pixel_type, "int16");
  EXPECT_EQ(ct.data.min().item<float>(), -1024.0f);  // air outside the scan circle
  EXPECT_GT(ct.data.max().item<float>(), 1500.0f);   // cortical bone
  EXPECT_LT(ct.data.max().item<float>(), 3072.0f);
}

TEST(VolumeReader, DicomSeriesFolderMatchesPydicomHeader) {
  const fs::path file = test::pydicom_dir() / "CT_small.dcm";
  MEDSEG_REQUIRE_FILE(file);
  TempDir dir;
  fs::copy_file(file, dir / "CT_small.dcm");
  const Volume v = read_volume(dir.path());
  // Values read with pydicom: ImagePositionPatient, PixelSpacing, Rows,
  // Columns, SliceThickness 5, pixel range after rescale.
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{128, 128, 1}));
  expect_near_array(v.geometry.origin, {-158.135803, -179.035797, -75.699997}, 1e-4);
  expect_near_array(v.geometry.spacing, {0.661468, 0.661468, 5.0}, 1e-6);
  EXPECT_EQ(v.data.min().item<float>(), -896.0f);
  EXPECT_EQ(v.data.max().item<float>(), 1167.0f);
  EXPECT_EQ(v.data[0][0][0].item<float>(), -849.0f);   // pixel_array[0, 0] * slope + intercept
  EXPECT_EQ(v.data[0][10][20].item<float>(), -839.0f);  // row 10, column 20
  EXPECT_EQ(v.metadata.modality, "CT");
  EXPECT_EQ(v.metadata.manufacturer, "GE MEDICAL SYSTEMS");
  EXPECT_EQ(v.metadata.model, "RHAPSODE");
  EXPECT_EQ(v.metadata.series_uid, "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322");
  EXPECT_EQ(v.pixel_type, "int16");
}

TEST(VolumeReader, SingleDicomFileReadsAsOneSliceVolume) {
  const fs::path file = test::pydicom_dir() / "MR_small.dcm";
  MEDSEG_REQUIRE_FILE(file);
  const Volume v = read_volume(file);
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{64, 64, 1}));
  expect_near_array(v.geometry.origin, {-83.9063, -91.2, 6.6406}, 1e-4);
  expect_near_array(v.geometry.spacing, {0.3125, 0.3125, 0.8}, 1e-6);
  EXPECT_EQ(v.metadata.modality, "MR");
  EXPECT_EQ(v.metadata.manufacturer, "TOSHIBA_MEC");
  EXPECT_EQ(v.data.min().item<float>(), 127.0f);
  EXPECT_EQ(v.data.max().item<float>(), 2145.0f);
  // pydicom: WindowCenter 600, WindowWidth 1600.
  ASSERT_TRUE(v.metadata.window_center.has_value());
  EXPECT_EQ(*v.metadata.window_center, 600.0);
  EXPECT_EQ(*v.metadata.window_width, 1600.0);
}

TEST(VolumeReader, TwoSliceObliqueSeriesIsSortedAndOriented) {
  const fs::path a = test::nibabel_data_dir() / "0.dcm";
  const fs::path b = test::nibabel_data_dir() / "1.dcm";
  MEDSEG_REQUIRE_FILE(a);
  TempDir dir;
  // Copied in reverse name order: the reader must sort by position.
  fs::copy_file(b, dir / "a.dcm");
  fs::copy_file(a, dir / "b.dcm");
  const Volume v = read_volume(dir.path());
  // pydicom: ImagePositionPatient of 0.dcm (-805, -825.019119, -75.097641),
  // 1.dcm 3 mm above; ImageOrientationPatient (1 0 0, 0 0.999986 -0.005236).
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{256, 256, 2}));
  expect_near_array(v.geometry.origin, {-805.0, -825.019119, -75.097641}, 1e-4);
  EXPECT_NEAR(v.geometry.spacing[0], 1.796875, 1e-6);
  EXPECT_NEAR(v.geometry.spacing[2], 3.0, 1e-3);
  EXPECT_NEAR(v.geometry.direction_at(1, 1), 0.999986, 1e-6);
  EXPECT_NEAR(v.geometry.direction_at(2, 1), -0.005236, 1e-6);
  EXPECT_EQ(v.metadata.series_description, "CBU_DTI_64D_1A");
  EXPECT_EQ(v.metadata.model, "TrioTim");
}

TEST(VolumeReader, FolderWithTwoSeriesListsThemAndNeedsAChoice) {
  MEDSEG_REQUIRE_FILE(test::pydicom_dir() / "CT_small.dcm");
  TempDir dir;
  fs::copy_file(test::pydicom_dir() / "CT_small.dcm", dir / "ct.dcm");
  fs::copy_file(test::pydicom_dir() / "MR_small.dcm", dir / "mr.dcm");
  const auto series = list_dicom_series(dir.path());
  ASSERT_EQ(series.size(), 2u);
  // Patient and study as pydicom reads them.
  const DicomSeriesInfo& ct = series[0].modality == "CT" ? series[0] : series[1];
  const DicomSeriesInfo& mr_info = series[0].modality == "CT" ? series[1] : series[0];
  EXPECT_EQ(ct.patient_name, "CompressedSamples^CT1");
  EXPECT_EQ(ct.patient_id, "1CT1");
  EXPECT_EQ(ct.study_date, "20040119");
  EXPECT_EQ(ct.study_description, "e+1");
  EXPECT_EQ(mr_info.patient_name, "CompressedSamples^MR1");
  EXPECT_EQ(mr_info.study_date, "20040826");
  EXPECT_EQ(mr_info.study_description, "");
  expect_read_error(dir.path(), "2 DICOM series");
  ReadOptions options;
  options.series_uid = "1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457";  // MR_small
  const Volume mr = read_volume(dir.path(), options);
  EXPECT_EQ(mr.metadata.modality, "MR");
  options.series_uid = ct.uid;
  EXPECT_FALSE(read_volume(dir.path(), options).metadata.window_center.has_value());  // CT_small has none
  options.series_uid = "1.2.3.4";
  EXPECT_THROW(read_volume(dir.path(), options), IoError);
}

TEST(VolumeReader, ObliqueNiftiSformBecomesLpsGeometry) {
  TempDir dir;
  // RAS affine: 30 degrees about z, spacing (2, 3, 4), offset (10, 20, 30).
  const float c = 0.8660254f, s = 0.5f;
  test::write_nifti_int16(dir / "oblique.nii", {4, 5, 6}, {2, 3, 4},
                    {2 * c, -3 * s, 0, 10, 2 * s, 3 * c, 0, 20, 0, 0, 4, 30});
  const Volume v = read_volume(dir / "oblique.nii");
  expect_near_array(v.geometry.spacing, {2, 3, 4}, 1e-5);
  expect_near_array(v.geometry.origin, {-10, -20, 30}, 1e-4);
  // LPS = diag(-1, -1, 1) * RAS rotation.
  const std::array<double, 9> lps{-c, s, 0, -s, -c, 0, 0, 0, 1};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(v.geometry.direction[i], lps[i], 1e-5) << i;
  // Voxel (i, j, k) holds i + 4 j + 20 k in the test writer.
  EXPECT_EQ(v.data[2][3][1].item<float>(), 1 + 4 * 3 + 20 * 2);
}

// ---- bad input: one test per kind the issue lists ----

// medseg reads NIfTI voxels itself, in one pass (pipeline/io/nifti_reader.h);
// ITK's own reader is the reference for both geometry and every voxel.
void expect_same_as_itk_reader(const fs::path& path) {
  SCOPED_TRACE(path.string());
  const Volume ours = read_volume(path);
  using Image = itk::Image<float, 3>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetFileName(path.string());
  reader->Update();
  const Image* itk_image = reader->GetOutput();
  const auto size = itk_image->GetLargestPossibleRegion().GetSize();
  for (unsigned d = 0; d < 3; ++d) {
    EXPECT_EQ(ours.geometry.size[d], static_cast<std::int64_t>(size[d]));
    EXPECT_EQ(ours.geometry.spacing[d], itk_image->GetSpacing()[d]);
    EXPECT_EQ(ours.geometry.origin[d], itk_image->GetOrigin()[d]);
    for (unsigned c = 0; c < 3; ++c) EXPECT_EQ(ours.geometry.direction[d * 3 + c], itk_image->GetDirection()[d][c]);
  }
  const at::Tensor expected =
      at::from_blob(const_cast<float*>(itk_image->GetBufferPointer()),
                    {static_cast<std::int64_t>(size[2]), static_cast<std::int64_t>(size[1]),
                     static_cast<std::int64_t>(size[0])},
                    at::kFloat);
  ASSERT_EQ(ours.data.sizes(), expected.sizes());
  EXPECT_TRUE(at::equal(ours.data, expected)) << "largest difference "
                                              << (ours.data - expected).abs().max().item<float>();
}

TEST(NiftiVoxelReader, MatchesItkOnSamplesAndNibabelFiles) {
  // Our samples (uint8 MRI, int16 CT), nibabel's test files: big-endian int16
  // and float32 with NaN scl_slope, little-endian uint8.
  std::vector<fs::path> files{test::samples_dir() / "mri/t1.nii.gz", test::samples_dir() / "ct/head_ct.nii.gz"};
  for (const char* name : {"anatomical.nii", "reoriented_anat_moved.nii", "standard.nii.gz"}) {
    const fs::path file = test::nibabel_data_dir() / name;
    MEDSEG_REQUIRE_FILE(file);
    files.push_back(file);
  }
  for (const auto& file : files) expect_same_as_itk_reader(file);
}

TEST(NiftiVoxelReader, MatchesItkOnEveryTypeWithScaling) {
  MEDSEG_REQUIRE_FILE(test::nibabel_data_dir());
  TempDir dir;
  // nibabel writes the files (an independent writer); scl_slope/scl_inter
  // are patched into the header afterwards so the stored values stay raw.
  const std::string script = R"(
import struct, sys
import numpy as np, nibabel as nib
out = sys.argv[1]
rng = np.random.default_rng(7)
base = rng.integers(-120, 3000, size=(5, 6, 7))
a = 0.3  # an oblique rotation about z, anisotropic voxels
affine = np.eye(4)
affine[:3, :3] = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) @ np.diag([0.9, 1.1, 2.0])
affine[:3, 3] = [-20, 10, -5]
cases = [("u1", np.uint8, 1.0, 0.0), ("i1", np.int8, 0.25, 3.0), ("i2s", np.int16, 0.5, -10.0),
         ("u2", np.uint16, 1.0, 0.0), ("i4", np.int32, 3.0, 0.0), ("u4", np.uint32, 1.0, 1024.0),
         ("i8", np.int64, 1.0, 0.0), ("f4s", np.float32, 1.5, -2.25), ("f8", np.float64, 1.0, 0.0),
         ("f8s", np.float64, 0.1, 0.3), ("i2z", np.int16, 0.0, 5.0)]
for name, dtype, slope, inter in cases:
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    data = base if info is None else np.clip(base, info.min, info.max)
    data = (data * 1.37 if info is None else data).astype(dtype)
    path = f"{out}/{name}.nii" + (".gz" if name.endswith("s") else "")
    img = nib.Nifti1Image(data, affine, dtype=dtype)
    nib.save(img, path)
    if slope != 1.0 or inter != 0.0:
        import gzip
        opener = gzip.open if path.endswith(".gz") else open
        raw = bytearray(opener(path, "rb").read())
        raw[112:120] = struct.pack("<ff", slope, inter)
        with opener(path, "wb") as f:
            f.write(raw)
    # nibabel's own reading, scaled, in ITK's memory order (i fastest).
    values = nib.load(path).get_fdata(dtype=np.float64).astype(np.float32)
    open(f"{out}/{name}.f32", "wb").write(values.tobytes(order="F"))
bad = (base * 1.0).astype(np.float64)
bad[1, 2, 3] = np.nan
nib.save(nib.Nifti1Image(bad, affine), f"{out}/bad/nan64.nii.gz")
)";
  test::write_text(dir / "make.py", script);
  fs::create_directory(dir / "bad");
  const std::string command = "/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.path().string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (!is_nifti_name(entry.path())) continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    // nibabel, the NIfTI standard's reading: scl_slope 0 means no scaling.
    const Volume ours = read_volume(entry.path());
    std::ifstream in(dir / (name.substr(0, name.find('.')) + ".f32"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(bytes.size(), static_cast<std::size_t>(ours.data.numel()) * 4);
    const at::Tensor nibabel = at::from_blob(bytes.data(), ours.data.sizes(), at::kFloat);
    EXPECT_TRUE(at::allclose(ours.data, nibabel, 1e-6, 1e-6)) << (ours.data - nibabel).abs().max().item<float>();
    // ITK, bit for bit, except that ITK 5.2 adds scl_inter when scl_slope is
    // 0 (the standard says to ignore both; we follow it).
    if (name != "i2z.nii") expect_same_as_itk_reader(entry.path());
    ++files;
  }
  EXPECT_EQ(files, 11);
  // The scaling was applied (and is not the identity).
  const Volume scaled = read_volume(dir / "i2s.nii.gz");
  const Volume raw = read_volume(dir / "i2z.nii");  // slope 0: no scaling
  EXPECT_TRUE(at::allclose(scaled.data, raw.data * 0.5 - 10.0));
  expect_read_error(dir / "bad/nan64.nii.gz", "1 voxel(s) are NaN or infinite");
}

// read_label_map's rule: whole numbers 0..32767 (they become int16). The
// files are float32 NIfTI written byte by byte (test::write_nifti_float32),
// so the values reach the check exactly as written.
void expect_label_map_error(const fs::path& path, const std::string& found) {
  try {
    read_label_map(path);
    ADD_FAILURE() << "reading " << path << " as a label map did not throw";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot read '" + path.string() + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("label maps hold whole numbers 0..32767, found " + found), std::string::npos) << msg;
  }
}

TEST(LabelMap, ReadsWholeNumbersAsInt16) {
  const Volume v = read_label_map(test::samples_dir() / "ct/head_ct_labels.nii.gz");
  EXPECT_EQ(v.data.scalar_type(), at::kShort);
  EXPECT_EQ(v.data.max().item<int>(), 2);
  // The ends of the range, stored as float32, read exactly.
  TempDir dir;
  test::write_nifti_float32(dir / "ends.nii", {2, 1, 1}, {0.0f, 32767.0f});
  const Volume ends = read_label_map(dir / "ends.nii");
  EXPECT_EQ(ends.data.scalar_type(), at::kShort);
  EXPECT_TRUE(at::equal(ends.data.flatten(), at::tensor({0, 32767}, at::kShort)));
}

TEST(LabelMap, FractionalValuesAreRefused) {
  TempDir dir;
  std::vector<float> values(27, 1.0f);
  values[13] = 2.5f;  // the centre voxel of 3 x 3 x 3
  test::write_nifti_float32(dir / "fractional.nii", {3, 3, 3}, values);
  EXPECT_NO_THROW(read_volume(dir / "fractional.nii"));  // a fine image, not a label map
  expect_label_map_error(dir / "fractional.nii", "2.5");
  values[13] = 1.0001f;  // close to a whole number is still not one
  test::write_nifti_float32(dir / "almost.nii", {3, 3, 3}, values);
  expect_label_map_error(dir / "almost.nii", "1.0001");
}

TEST(LabelMap, NegativeAndTooLargeValuesAreRefused) {
  TempDir dir;
  test::write_nifti_float32(dir / "negative.nii", {2, 2, 2}, {0, 1, 2, 1, 0, -1, 0, 0});
  expect_label_map_error(dir / "negative.nii", "-1");
  test::write_nifti_float32(dir / "large.nii", {2, 2, 2}, {0, 1, 2, 1, 0, 32768, 0, 0});
  expect_label_map_error(dir / "large.nii", "32768");
}

TEST(VolumeReaderBadInput, MissingPath) {
  expect_read_error("/nonexistent/medseg/volume.nii.gz", "no such file or folder");
}

TEST(VolumeReaderBadInput, EmptyFolder) {
  TempDir dir;
  expect_read_error(dir.path(), "folder is empty");
}

TEST(VolumeReaderBadInput, FolderWithoutDicom) {
  TempDir dir;
  test::write_text(dir / "notes.txt", "not an image\n");
  expect_read_error(dir.path(), "no DICOM series");
}

TEST(VolumeReaderBadInput, TruncatedNiftiGz) {
  TempDir dir;
  const fs::path source = test::samples_dir() / "mri/t1.nii.gz";
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::write_text(dir / "truncated.nii.gz", bytes.substr(0, bytes.size() / 3));
  expect_read_error(dir / "truncated.nii.gz", "truncated");
}

TEST(VolumeReaderBadInput, TruncatedFloatNifti) {
  TempDir dir;
  Volume v;
  v.geometry.size = {8, 7, 6};
  v.data = at::rand({6, 7, 8});
  write_volume(v, dir / "whole.nii");
  std::ifstream in(dir / "whole.nii", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::write_text(dir / "truncated.nii", bytes.substr(0, bytes.size() - 100));
  expect_read_error(dir / "truncated.nii", "file is truncated: header announces 1344 bytes of voxel data, found 1244");
}

TEST(VolumeReaderBadInput, TextFileRenamedNii) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 50; ++i) text += "this is a text file, not an image\n";
  test::write_text(dir / "notes.nii", text);
  expect_read_error(dir / "notes.nii", "not a recognised image");
}

TEST(VolumeReaderBadInput, TwoDimensionalImage) {
  TempDir dir;
  test::write_nifti_int16(dir / "slice.nii", {4, 5}, {1, 1});
  expect_read_error(dir / "slice.nii", "2D image");
}

TEST(VolumeReaderBadInput, FourDimensionalImage) {
  const fs::path file = test::nibabel_data_dir() / "example4d.nii.gz";
  MEDSEG_REQUIRE_FILE(file);
  expect_read_error(file, "4D image");
}

TEST(VolumeReaderBadInput, FourDimensionalWithOneTimePointIsAccepted) {
  TempDir dir;
  test::write_nifti_int16(dir / "t1.nii", {4, 5, 6, 1}, {1, 1, 1, 1});
  EXPECT_EQ(read_volume(dir / "t1.nii").geometry.size, (std::array<std::int64_t, 3>{4, 5, 6}));
}

TEST(VolumeReaderBadInput, ZeroSpacingNifti) {
  TempDir dir;
  test::write_nifti_int16(dir / "zero.nii", {4, 5, 6}, {1, 0, 1});
  expect_read_error(dir / "zero.nii", "spacing along j is 0 mm");
}

TEST(VolumeReaderBadInput, NegativeSpacingNifti) {
  TempDir dir;
  test::write_nifti_int16(dir / "negative.nii", {4, 5, 6}, {-2, 1, 1});
  expect_read_error(dir / "negative.nii", "spacing along i is -2 mm");
}

TEST(VolumeReaderBadInput, NegativeSpacingMetaImage) {
  TempDir dir;
  std::string mha =
      "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 -1 1\n"
      "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n";
  mha += std::string(8, '\0');
  test::write_text(dir / "negative.mha", mha);
  expect_read_error(dir / "negative.mha", "spacing along j is -1 mm");
}

TEST(VolumeReaderBadInput, NanVoxelsAreRefusedNotZeroed) {
  TempDir dir;
  Volume v;
  v.geometry.size = {4, 3, 2};
  v.data = at::zeros({2, 3, 4});
  v.data[1][2][3] = std::nanf("");
  v.data[0][0][1] = INFINITY;
  for (const char* name : {"nan.nii.gz", "nan.nii", "nan.nrrd", "nan.mha"}) {
    write_volume(v, dir / name);
    expect_read_error(dir / name, "2 voxel(s) are NaN or infinite");
  }
}

TEST(VolumeReaderBadInput, ZeroSpacingNrrd) {
  TempDir dir;
  std::string nrrd =
      "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nspace: left-posterior-superior\n"
      "space directions: (1,0,0) (0,1,0) (0,0,0)\nencoding: raw\n\n";
  nrrd += std::string(8, '\0');
  test::write_text(dir / "zero.nrrd", nrrd);
  expect_read_error(dir / "zero.nrrd", "spacing along k is 0 mm");
}

}  // namespace
}  // namespace medseg::pipeline
