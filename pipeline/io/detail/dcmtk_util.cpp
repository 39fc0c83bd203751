#include "pipeline/io/detail/dcmtk_util.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdio>
#include <mutex>

#include "core/error.h"

namespace medseg::pipeline::dcmtk {

void quiet_logging() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::OFF_LOG_LEVEL); });
}

void check_read(const OFCondition& c, const std::filesystem::path& path, const std::string& what) {
  if (c.bad()) throw IoError("cannot read '" + path.string() + "': " + what + ": " + c.text());
}

void check_write(const OFCondition& c, const std::filesystem::path& path, const std::string& what) {
  if (c.bad()) throw IoError("cannot write '" + path.string() + "': " + what + ": " + c.text());
}

std::string decimal_string(double v) {
  if (v == 0.0) return "0";  // also turns -0 into 0
  char buffer[64];
  for (int digits = 15; digits > 1; --digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
    if (std::string(buffer).size() <= 16) return buffer;
  }
  std::snprintf(buffer, sizeof buffer, "%.1g", v);
  return buffer;
}

std::string new_uid() {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  return uid;
}

std::string get_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  std::string s = value.c_str();
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

bool get_decimals(DcmItem& item, const DcmTagKey& tag, double* out, unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    Float64 v = 0;
    if (item.findAndGetFloat64(tag, v, i).bad()) return false;
    out[i] = v;
  }
  return true;
}

}  // namespace medseg::pipeline::dcmtk
