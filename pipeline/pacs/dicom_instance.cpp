#include "pipeline/pacs/dicom_instance.h"

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "core/hash.h"
#include "pipeline/io/detail/dcmtk_util.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(const std::string& why) { throw IoError(why); }

std::string required_uid(DcmItem& item, const DcmTagKey& tag, const char* name) {
  const std::string uid = dcmtk::get_string(item, tag);
  if (uid.empty()) refuse(std::string(name) + " is missing");
  if (!is_valid_uid(uid)) refuse(std::string(name) + " '" + uid.substr(0, 70) + "' is not a valid UID");
  return uid;
}

std::uint64_t get_uint(DcmItem& item, const DcmTagKey& tag, std::uint64_t fallback) {
  Uint16 v16 = 0;
  if (item.findAndGetUint16(tag, v16).good()) return v16;
  Sint32 s32 = 0;
  if (item.findAndGetSint32(tag, s32).good() && s32 >= 0) return static_cast<std::uint64_t>(s32);
  const std::string text = dcmtk::get_string(item, tag);
  if (!text.empty()) {
    try {
      const long long v = std::stoll(text);
      if (v >= 0) return static_cast<std::uint64_t>(v);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

// Native pixel data must hold exactly the pixels the header describes (one
// padding byte allowed); encapsulated (compressed) pixel data is left to
// the reader.
void check_pixels(DcmDataset& ds) {
  DcmElement* pixels = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, pixels).bad() || pixels == nullptr) return;
  if (pixels->getLengthField() == DCM_UndefinedLength) return;  // encapsulated
  const std::uint64_t rows = get_uint(ds, DCM_Rows, 0);
  const std::uint64_t columns = get_uint(ds, DCM_Columns, 0);
  const std::uint64_t bits = get_uint(ds, DCM_BitsAllocated, 0);
  const std::uint64_t samples = get_uint(ds, DCM_SamplesPerPixel, 1);
  const std::uint64_t frames = get_uint(ds, DCM_NumberOfFrames, 1);
  if (rows == 0 || columns == 0 || bits == 0 || samples == 0 || frames == 0) {
    refuse("pixel data without Rows, Columns, Bits Allocated, Samples per Pixel or Number of Frames");
  }
  if (rows > 65535 || columns > 65535 || bits > 64 || samples > 4 || frames > 1000000) {
    refuse("image attributes out of range");
  }
  const std::uint64_t bits_total = rows * columns * samples * frames * bits;
  const std::uint64_t expected = (bits_total + 7) / 8;
  const std::uint64_t actual = pixels->getLengthField();
  if (actual != expected && actual != expected + 1) {
    char text[256];
    std::snprintf(text, sizeof text,
                  "pixel data holds %llu bytes; %llu x %llu pixels x %llu samples x %llu bits x %llu frames need %llu "
                  "(truncated or inconsistent image)",
                  static_cast<unsigned long long>(actual), static_cast<unsigned long long>(rows),
                  static_cast<unsigned long long>(columns), static_cast<unsigned long long>(samples),
                  static_cast<unsigned long long>(bits), static_cast<unsigned long long>(frames),
                  static_cast<unsigned long long>(expected));
    refuse(text);
  }
}

std::unique_ptr<DcmFileFormat> load(const fs::path& file) {
  dcmtk::quiet_logging();
  auto ff = std::make_unique<DcmFileFormat>();
  // Large values (pixel data) are not read here, only their lengths; a data
  // set cut off inside an element fails to load.
  const OFCondition c = ff->loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (c.bad()) throw IoError(std::string("not a readable DICOM file (") + c.text() + ")");
  return ff;
}

SeriesAttributes attributes(DcmDataset& ds) {
  SeriesAttributes a;
  a.modality = dcmtk::get_string(ds, DCM_Modality);
  a.body_part = dcmtk::get_string(ds, DCM_BodyPartExamined);
  a.series_description = dcmtk::get_string(ds, DCM_SeriesDescription);
  return a;
}

}  // namespace

bool is_valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = uid.find('.', start);
    const std::string part = uid.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return false;
    if (part.size() > 1 && part[0] == '0') return false;
    for (const char c : part) {
      if (c < '0' || c > '9') return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::string instance_file_name(const std::string& sop_instance_uid) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.dcm", static_cast<unsigned long long>(core::fnv1a(sop_instance_uid)));
  return name;
}

InstanceHeader read_received_instance(const fs::path& file) {
  const auto ff = load(file);
  DcmDataset& ds = *ff->getDataset();
  InstanceHeader h;
  h.sop_class_uid = required_uid(ds, DCM_SOPClassUID, "SOP Class UID");
  h.sop_instance_uid = required_uid(ds, DCM_SOPInstanceUID, "SOP Instance UID");
  h.study_uid = required_uid(ds, DCM_StudyInstanceUID, "Study Instance UID");
  h.series_uid = required_uid(ds, DCM_SeriesInstanceUID, "Series Instance UID");
  h.accession_number = dcmtk::get_string(ds, DCM_AccessionNumber);
  h.series = attributes(ds);
  check_pixels(ds);
  return h;
}

SeriesAttributes read_series_attributes(const fs::path& file) {
  try {
    const auto ff = load(file);
    return attributes(*ff->getDataset());
  } catch (const IoError& e) {
    throw IoError("cannot read '" + file.string() + "': " + e.what());
  }
}

}  // namespace medseg::pipeline::pacs
