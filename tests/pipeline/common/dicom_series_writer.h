#pragma once
// Test helper: writes a DICOM series, one file per slice, with ITK's GDCM
// writer, placing each slice at an arbitrary ImagePositionPatient so tests
// can build missing slices, uneven spacing or gantry tilt.
#include <gdcmTrace.h>
#include <itkGDCMImageIO.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace medseg::test {

struct DicomSeriesSpec {
  std::vector<std::array<double, 3>> positions;            ///< LPS mm, one per slice
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  ///< row-major, columns = axes
  std::array<double, 3> spacing{0.8, 0.9, 2.0};           ///< column, row, thickness
  unsigned columns = 6;
  unsigned rows = 5;
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.777.1";
  std::string modality = "CT";
  /// Written when not empty (DICOM decimal strings, may be multi-valued "a\\b").
  std::string window_center;
  std::string window_width;
  std::string patient_name;
  std::string study_date;
};

/// Slice k holds values 100 * k + row * columns + column.
inline void write_dicom_series(const std::filesystem::path& folder, const DicomSeriesSpec& spec) {
  using Image = itk::Image<short, 3>;
  gdcm::Trace::WarningOff();  // "No PhotometricInterpretation found" on every slice
  std::filesystem::create_directories(folder);
  for (std::size_t k = 0; k < spec.positions.size(); ++k) {
    auto image = Image::New();
    Image::RegionType region;
    region.SetSize({spec.columns, spec.rows, 1});
    image->SetRegions(region);
    Image::SpacingType spacing;
    Image::PointType origin;
    Image::DirectionType direction;
    for (unsigned d = 0; d < 3; ++d) {
      spacing[d] = spec.spacing[d];
      origin[d] = spec.positions[k][d];
      for (unsigned c = 0; c < 3; ++c) direction[d][c] = spec.direction[d * 3 + c];
    }
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    image->SetDirection(direction);
    image->Allocate();
    short* p = image->GetBufferPointer();
    for (unsigned i = 0; i < spec.columns * spec.rows; ++i) p[i] = static_cast<short>(100 * k + i);

    auto io = itk::GDCMImageIO::New();
    io->KeepOriginalUIDOn();
    // ImageFileWriter hands the image's dictionary to the IO: tags go there.
    itk::MetaDataDictionary dict;
    const std::string n = std::to_string(k + 1);
    itk::EncapsulateMetaData<std::string>(dict, "0008|0060", spec.modality);
    itk::EncapsulateMetaData<std::string>(dict, "0008|0016", "1.2.840.10008.5.1.4.1.1.2");
    itk::EncapsulateMetaData<std::string>(dict, "0008|0018", spec.series_uid + "." + n);
    itk::EncapsulateMetaData<std::string>(dict, "0020|000d", spec.series_uid + ".0");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000e", spec.series_uid);
    itk::EncapsulateMetaData<std::string>(dict, "0020|0013", n);
    itk::EncapsulateMetaData<std::string>(dict, "0008|0070", "MEDSEG TEST");
    const std::pair<const char*, const std::string*> optional_tags[] = {
        {"0028|1050", &spec.window_center}, {"0028|1051", &spec.window_width},
        {"0010|0010", &spec.patient_name}, {"0008|0020", &spec.study_date}};
    for (const auto& [tag, value] : optional_tags) {
      if (!value->empty()) itk::EncapsulateMetaData<std::string>(dict, tag, *value);
    }
    image->SetMetaDataDictionary(dict);
    auto writer = itk::ImageFileWriter<Image>::New();
    writer->SetImageIO(io);
    writer->SetInput(image);
    writer->SetFileName((folder / ("slice" + n + ".dcm")).string());
    writer->Update();
  }
}

}  // namespace medseg::test
