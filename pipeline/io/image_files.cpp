#include "pipeline/io/image_files.h"

#include <algorithm>
#include <cctype>

namespace medseg::pipeline {

std::string image_extension(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return e;
  }
  return {};
}

std::string case_id_of(const std::filesystem::path& path) {
  const std::string ext = image_extension(path);
  if (ext.empty()) return {};
  const std::string name = path.filename().string();
  return name.substr(0, name.size() - ext.size());
}

}  // namespace medseg::pipeline
