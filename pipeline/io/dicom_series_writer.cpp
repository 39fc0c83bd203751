// A volume as a DICOM series with DCMTK's dcmdata: the attributes of the
// CT/MR Image IODs set by hand (the files must read back with the same
// geometry through ITK/GDCM, and be a source DICOM SEGs can reference).
#include "pipeline/io/dicom_series_writer.h"

#include <ATen/ATen.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cmath>
#include <cstdio>

#include "core/atomic_file.h"
#include "core/error.h"
#include "pipeline/io/detail/dcmtk_util.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

std::vector<fs::path> write_dicom_series(const Volume& volume, const fs::path& folder,
                                         const DicomSeriesWriteOptions& options) {
  dcmtk::quiet_logging();
  const char* sop_class = nullptr;
  if (options.modality == "CT") {
    sop_class = UID_CTImageStorage;
  } else if (options.modality == "MR") {
    sop_class = UID_MRImageStorage;
  } else {
    throw ConfigError("DICOM series modality must be CT or MR, not '" + options.modality + "'");
  }
  const Geometry& g = volume.geometry;
  if (g.size[0] > 65535 || g.size[1] > 65535) throw IoError("cannot write '" + folder.string() + "': slices too large");
  const at::Tensor values = volume.data.to(at::kDouble).contiguous();
  const double lo = values.min().item<double>();
  const double hi = values.max().item<double>();
  const bool whole = values.eq(values.round()).all().item<bool>() && lo >= -32768 && hi <= 32767;
  // Whole numbers that fit int16 are stored as they are; anything else is
  // spread over int16 with a slope.
  const double slope = whole ? 1.0 : std::max(hi - lo, 1e-6) / 64000.0;
  const double intercept = whole ? 0.0 : lo + 32000.0 * slope;
  const at::Tensor stored = values.sub(intercept).div(slope).round().clamp(-32768, 32767).to(at::kShort).contiguous();
  const std::int16_t* pixels = stored.data_ptr<std::int16_t>();
  const std::size_t plane = static_cast<std::size_t>(g.size[0] * g.size[1]);

  const std::string study_uid = options.study_uid.empty() ? dcmtk::new_uid() : options.study_uid;
  const std::string series_uid = options.series_uid.empty() ? dcmtk::new_uid() : options.series_uid;
  const std::string frame_of_reference_uid = dcmtk::new_uid();
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  const std::string orientation = dcmtk::decimal_string(g.direction_at(0, 0)) + "\\" +
                                  dcmtk::decimal_string(g.direction_at(1, 0)) + "\\" +
                                  dcmtk::decimal_string(g.direction_at(2, 0)) + "\\" +
                                  dcmtk::decimal_string(g.direction_at(0, 1)) + "\\" +
                                  dcmtk::decimal_string(g.direction_at(1, 1)) + "\\" +
                                  dcmtk::decimal_string(g.direction_at(2, 1));
  const std::string pixel_spacing = dcmtk::decimal_string(g.spacing[1]) + "\\" + dcmtk::decimal_string(g.spacing[0]);

  std::vector<fs::path> files;
  core::write_folder_atomically(folder, [&](const fs::path& temporary) {
    for (std::int64_t k = 0; k < g.size[2]; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "IM%05lld.dcm", static_cast<long long>(k + 1));
      const fs::path file = temporary / name;
      DcmFileFormat ff;
      DcmDataset& ds = *ff.getDataset();
      const auto position = g.index_to_world({0.0, 0.0, static_cast<double>(k)});
      const std::string ipp = dcmtk::decimal_string(position[0]) + "\\" + dcmtk::decimal_string(position[1]) + "\\" +
                              dcmtk::decimal_string(position[2]);
      const std::pair<DcmTagKey, std::string> strings[] = {
          {DCM_SpecificCharacterSet, "ISO_IR 100"},
          {DCM_SOPClassUID, sop_class},
          {DCM_SOPInstanceUID, dcmtk::new_uid()},
          {DCM_ImageType, "DERIVED\\SECONDARY\\AXIAL"},
          {DCM_StudyDate, date.c_str()},
          {DCM_StudyTime, time.c_str()},
          {DCM_ContentDate, date.c_str()},
          {DCM_ContentTime, time.c_str()},
          {DCM_AccessionNumber, ""},
          {DCM_Modality, options.modality},
          {DCM_Manufacturer, "medseg"},
          {DCM_ReferringPhysicianName, ""},
          {DCM_StudyDescription, options.study_description},
          {DCM_SeriesDescription, options.series_description},
          {DCM_PatientName, options.patient_name},
          {DCM_PatientID, options.patient_id},
          {DCM_PatientBirthDate, ""},
          {DCM_PatientSex, ""},
          {DCM_SliceThickness, dcmtk::decimal_string(g.spacing[2])},
          {DCM_StudyInstanceUID, study_uid},
          {DCM_SeriesInstanceUID, series_uid},
          {DCM_StudyID, "1"},
          {DCM_SeriesNumber, "1"},
          {DCM_InstanceNumber, std::to_string(k + 1)},
          {DCM_PatientOrientation, ""},
          {DCM_ImagePositionPatient, ipp},
          {DCM_ImageOrientationPatient, orientation},
          {DCM_FrameOfReferenceUID, frame_of_reference_uid},
          {DCM_PositionReferenceIndicator, ""},
          {DCM_PhotometricInterpretation, "MONOCHROME2"},
          {DCM_PixelSpacing, pixel_spacing},
          {DCM_RescaleIntercept, dcmtk::decimal_string(intercept)},
          {DCM_RescaleSlope, dcmtk::decimal_string(slope)},
      };
      for (const auto& [tag, value] : strings) {
        dcmtk::check_write(ds.putAndInsertString(tag, value.c_str()), folder, DcmTag(tag).getTagName());
      }
      if (options.modality == "CT") {
        dcmtk::check_write(ds.putAndInsertString(DCM_KVP, ""), folder, "KVP");
        dcmtk::check_write(ds.putAndInsertString(DCM_AcquisitionNumber, ""), folder, "AcquisitionNumber");
        dcmtk::check_write(ds.putAndInsertString(DCM_RescaleType, "HU"), folder, "RescaleType");
      } else {
        // Type 1 in the MR Image module; "RM" (research mode) and "NONE"
        // say that nothing is known about the acquisition.
        const std::pair<DcmTagKey, const char*> mr[] = {
            {DCM_ScanningSequence, "RM"}, {DCM_SequenceVariant, "NONE"}, {DCM_ScanOptions, ""},
            {DCM_MRAcquisitionType, ""},  {DCM_RepetitionTime, ""},      {DCM_EchoTime, ""},
            {DCM_EchoTrainLength, ""}};
        for (const auto& [tag, value] : mr) dcmtk::check_write(ds.putAndInsertString(tag, value), folder, "MR");
      }
      const std::pair<DcmTagKey, Uint16> numbers[] = {
          {DCM_SamplesPerPixel, 1},
          {DCM_Rows, static_cast<Uint16>(g.size[1])},
          {DCM_Columns, static_cast<Uint16>(g.size[0])},
          {DCM_BitsAllocated, 16},
          {DCM_BitsStored, 16},
          {DCM_HighBit, 15},
          {DCM_PixelRepresentation, 1},
      };
      for (const auto& [tag, value] : numbers) {
        dcmtk::check_write(ds.putAndInsertUint16(tag, value), folder, DcmTag(tag).getTagName());
      }
      dcmtk::check_write(ds.putAndInsertUint16Array(DCM_PixelData,
                                                    reinterpret_cast<const Uint16*>(pixels + static_cast<std::size_t>(k) * plane),
                                                    static_cast<unsigned long>(plane)),
                         folder, "pixel data");
      dcmtk::check_write(ff.saveFile(file.c_str(), EXS_LittleEndianExplicit), file, "saving");
      files.push_back(folder / name);
    }
  });
  return files;
}

}  // namespace medseg::pipeline
