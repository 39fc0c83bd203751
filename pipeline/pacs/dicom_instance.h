#pragma once
// One received DICOM instance (a Part 10 file the node wrote): the checks it
// must pass before the node accepts it, the attributes the queue and the
// rules need, and the file name the node gives it. DCMTK stays in the .cpp.
#include <filesystem>
#include <string>

#include "pipeline/pacs/series_rules.h"

namespace medseg::pipeline::pacs {

struct InstanceHeader {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_uid;
  std::string series_uid;
  std::string accession_number;
  SeriesAttributes series;
};

/// Reads and checks a received instance. Throws IoError with the reason it
/// is refused: not a readable DICOM file (e.g. a data set cut off inside an
/// element), a missing or malformed SOP Class / SOP Instance / Study /
/// Series Instance UID, native pixel data whose length does not match Rows x
/// Columns x Samples per Pixel x Bits Allocated x Number of Frames (a
/// truncated image), or image attributes that are missing or zero.
InstanceHeader read_received_instance(const std::filesystem::path& file);

/// The series attributes rules look at, from one instance of the series.
/// Throws IoError.
SeriesAttributes read_series_attributes(const std::filesystem::path& file);

/// True for a syntactically valid UID: 1-64 characters, digits and dots,
/// no empty component, no leading zero in a component.
bool is_valid_uid(const std::string& uid);

/// The name the node gives an instance file: 16 hexadecimal digits of the
/// FNV-1a hash of its SOP Instance UID, then ".dcm". Nothing of the received
/// data becomes a path; the same instance sent twice gets the same name.
std::string instance_file_name(const std::string& sop_instance_uid);

}  // namespace medseg::pipeline::pacs
