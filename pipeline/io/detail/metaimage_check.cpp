#include "pipeline/io/detail/metaimage_check.h"

#include <fstream>
#include <string>

#include "core/error_message.h"
#include "pipeline/io/detail/reader_common.h"

namespace medseg::pipeline::detail {
namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// MetaIO copies a header field's name (the text before '=', or a whole line
// without one, leading blanks and trailing spaces/tabs dropped; a line ends
// at '\n' or '\r') with strcpy into MET_FieldRecordType::name, a char[255]
// (MET_MAX_NAME_SIZE): a name of 255 or more bytes overflows it, which
// Debian's fortified build turns into an abort of the process (found by
// fuzz_metaimage). Names are measured with less trimming than MetaIO does,
// so nothing MetaIO would overflow on passes.
constexpr std::size_t kMaxFieldName = 254;

void check_field_names_and_ndims(const std::filesystem::path& path, const std::string& line) {
  std::size_t begin = 0;
  while (begin <= line.size()) {
    std::size_t end = line.find('\r', begin);
    if (end == std::string::npos) end = line.size();
    const std::string part = line.substr(begin, end - begin);
    std::string name = part.substr(0, part.find('='));
    const auto first = name.find_first_not_of(" \t\v\f");
    name = first == std::string::npos ? std::string() : name.substr(first);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name.size() > kMaxFieldName) {
      fail_to_read(path, "MetaImage header field name " + core::quote_short(name, 40) + " is " +
                             std::to_string(name.size()) + " characters long; MetaIO reads names of at most " +
                             std::to_string(kMaxFieldName));
    }
    // "NDims" without "= N": MetaIO takes the name, finds no number and
    // reads the next DimSize with a garbage count, from a stream that has
    // run dry, forever (a 3-line .mha hung `medseg info`; fuzz_metaimage).
    if (name == "NDims" && line.find('=') == std::string::npos) {
      fail_to_read(path, "MetaImage NDims has no value ('NDims = N' expected, N from 1 to 10)");
    }
    begin = end + 1;
  }
}

}  // namespace

void check_metaimage_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::size_t read = 0;
  // MetaIO reads "Key = Value" lines up to ElementDataFile; the voxels follow.
  while (read < (1u << 20) && std::getline(in, line)) {
    read += line.size() + 1;
    check_field_names_and_ndims(path, line);
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "ElementDataFile") {
      // "name%03d.raw MIN MAX STEP" names one file per slice; MetaIO divides
      // by STEP unchecked (SIGFPE with a step of 0, found by fuzz_metaimage).
      if (value.find('%') != std::string::npos) {
        fail_to_read(path, "MetaImage ElementDataFile " + core::quote_short(value) +
                               " is a numbered file pattern, which medseg does not read");
      }
      return;
    }
    if (key != "NDims") continue;
    if (value.empty() || value.size() > 2 || value.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(value) < 1 || std::stoi(value) > 10) {
      fail_to_read(path, "MetaImage NDims is " + core::quote_short(value) + ", not a number of axes from 1 to 10");
    }
  }
}

}  // namespace medseg::pipeline::detail
