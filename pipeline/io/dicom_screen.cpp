#include "pipeline/io/dicom_screen.h"

#include <gdcmMediaStorage.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>

namespace medseg::pipeline {

std::string gdcm_crash_reason(const std::string& file) {
  gdcm::Trace::WarningOff();
  gdcm::Trace::ErrorOff();
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  // The header only: everything before Pixel Data (7fe0,0010).
  if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010))) return {};
  gdcm::MediaStorage storage;
  storage.SetFromFile(reader.GetFile());
  const gdcm::DataSet& header = reader.GetFile().GetDataSet();
  if (storage == gdcm::MediaStorage::RTDoseStorage && !header.FindDataElement(gdcm::Tag(0x0028, 0x0008))) {
    return "an RT Dose without Number of Frames (0028,0008), which GDCM cannot read";
  }
  return {};
}

}  // namespace medseg::pipeline
