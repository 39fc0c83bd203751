#include "pipeline/io/image_files.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

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

std::optional<ChannelStem> split_channel_stem(const std::string& stem) {
  constexpr std::size_t kDigits = 4;
  if (stem.size() < kDigits + 2 || stem[stem.size() - kDigits - 1] != '_') return std::nullopt;
  ChannelStem c;
  for (std::size_t i = stem.size() - kDigits; i < stem.size(); ++i) {
    if (stem[i] < '0' || stem[i] > '9') return std::nullopt;
    c.channel = c.channel * 10 + static_cast<std::size_t>(stem[i] - '0');
  }
  c.case_id = stem.substr(0, stem.size() - kDigits - 1);
  return c;
}

std::string channel_stem(const std::string& case_id, std::size_t channel) {
  char suffix[24];  // "_%04zu" of any size_t
  std::snprintf(suffix, sizeof suffix, "_%04zu", channel);
  return case_id + suffix;
}

}  // namespace medseg::pipeline
