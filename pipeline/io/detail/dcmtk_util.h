#pragma once
// Small helpers shared by the DCMTK-based sources (dicom_seg_*.cpp,
// dicom_series_writer.cpp). Includes DCMTK: never include it from a public
// header.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/ofstd/ofcond.h>

#include <array>
#include <filesystem>
#include <string>

namespace medseg::pipeline::dcmtk {

/// Turns DCMTK's console logging off once per process: its warnings would
/// interleave with medseg's output; failures reach the user through the
/// OFCondition text instead.
void quiet_logging();

/// Throws IoError "cannot read/write 'PATH': WHAT: CONDITION" when `c` is bad.
void check_read(const OFCondition& c, const std::filesystem::path& path, const std::string& what);
void check_write(const OFCondition& c, const std::filesystem::path& path, const std::string& what);

/// A DICOM decimal string (DS, at most 16 characters) for `v`, with as many
/// significant digits as fit.
std::string decimal_string(double v);

/// A new UID under DCMTK's site root.
std::string new_uid();

/// A string attribute of `item`, trimmed; empty when absent.
std::string get_string(DcmItem& item, const DcmTagKey& tag);

/// Three or six decimals of a multi-valued DS attribute; false when absent or short.
bool get_decimals(DcmItem& item, const DcmTagKey& tag, double* out, unsigned count);

}  // namespace medseg::pipeline::dcmtk
