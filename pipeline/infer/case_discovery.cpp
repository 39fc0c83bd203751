#include "pipeline/infer/case_discovery.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "pipeline/io/image_files.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The extension of the label map written for each image extension
// (pipeline/io/image_files.h): the same format; MetaImage headers + raw
// become .mha, DICOM becomes NIfTI.
const std::vector<std::pair<std::string, std::string>>& image_extensions() {
  static const std::vector<std::pair<std::string, std::string>> kExtensions{
      {".nii.gz", ".nii.gz"}, {".nii", ".nii"}, {".nrrd", ".nrrd"}, {".nhdr", ".nrrd"},
      {".mha", ".mha"},       {".mhd", ".mha"}, {".dcm", ".nii.gz"}};
  return kExtensions;
}

std::string output_extension_for(const std::string& input_extension) {
  for (const auto& [ext, out] : image_extensions()) {
    if (ext == input_extension) return out;
  }
  return ".nii.gz";
}

bool is_list_file(const fs::path& path) {
  const std::string name = lower(path.filename().string());
  return ends_with(name, ".txt") || ends_with(name, ".csv");
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// A folder's name even when written with a trailing slash.
std::string folder_name(const fs::path& folder) {
  fs::path p = folder.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() || name == "." ? "dicom" : name;
}

struct FileInput {
  fs::path path;
  std::string extension;
};

struct Collector {
  std::int64_t in_channels;
  std::vector<FileInput> files;  // image files, in order of appearance
  std::vector<InferenceCase> cases;  // DICOM and failed inputs, in order

  void error(const fs::path& path, const std::string& id, const std::string& what) {
    InferenceCase c;
    c.id = id;
    c.channels = {path};
    c.error = "'" + path.string() + "': " + what;
    cases.push_back(std::move(c));
  }

  void add_dicom_folder(const fs::path& folder) {
    std::vector<DicomSeriesInfo> series;
    try {
      series = list_dicom_series(folder);
    } catch (const Error& e) {
      error(folder, folder_name(folder), e.what());
      return;
    }
    if (series.empty()) {
      error(folder, folder_name(folder), "no image files (.nii, .nii.gz, .nrrd, .mha, .mhd) and no DICOM series");
      return;
    }
    if (in_channels > 1) {
      error(folder, folder_name(folder),
            "the model has " + std::to_string(in_channels) +
                " input channels: give one file per channel, named CASE_0000, CASE_0001, ...");
      return;
    }
    for (std::size_t s = 0; s < series.size(); ++s) {
      InferenceCase c;
      c.id = folder_name(folder) + (series.size() > 1 ? "_series" + std::to_string(s + 1) : "");
      c.channels = {folder};
      if (series.size() > 1) c.series_uid = series[s].uid;
      c.dicom_series = series[s];
      c.output_extension = ".nii.gz";
      cases.push_back(std::move(c));
    }
  }

  void add_folder(const fs::path& folder) {
    std::vector<fs::path> images;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (!entry.is_regular_file(ec)) continue;
      const std::string ext = image_extension(entry.path());
      if (!ext.empty() && ext != ".dcm" && entry.path().filename().string().front() != '.') {
        images.push_back(entry.path());
      }
    }
    if (ec) {
      error(folder, folder_name(folder), "cannot list the folder: " + ec.message());
      return;
    }
    if (images.empty()) {
      add_dicom_folder(folder);
      return;
    }
    std::sort(images.begin(), images.end());
    for (const auto& image : images) files.push_back({image, image_extension(image)});
  }

  void add_list(const fs::path& list) {
    std::ifstream in(list);
    if (!in) {
      error(list, list.stem().string(), "cannot read the list");
      return;
    }
    const bool csv = ends_with(lower(list.filename().string()), ".csv");
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      std::string entry = trim(line);
      if (entry.empty() || entry.front() == '#') continue;
      if (csv) {
        entry = trim(entry.substr(0, entry.find(',')));
        if (entry.size() >= 2 && entry.front() == '"' && entry.back() == '"') entry = entry.substr(1, entry.size() - 2);
      }
      fs::path p = entry;
      if (p.is_relative()) p = list.parent_path() / p;
      std::error_code ec;
      const bool header = csv && first && !fs::exists(p, ec) && image_extension(p).empty();
      first = false;
      if (header || entry.empty()) continue;
      if (is_list_file(p)) {
        error(p, p.filename().string(), "lists inside lists are not supported");
        continue;
      }
      add(p);
    }
  }

  void add(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      error(path, image_extension(path).empty() ? path.filename().string() : case_id_of(path), "no such file or folder");
    } else if (fs::is_directory(path, ec)) {
      add_folder(path);
    } else if (is_list_file(path)) {
      add_list(path);
    } else if (image_extension(path).empty()) {
      error(path, path.filename().string(),
            "not a supported input (expected .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, .dcm, a DICOM folder, "
            "or a .txt/.csv list)");
    } else {
      files.push_back({path, image_extension(path)});
    }
  }

  // Image files -> cases (grouped by nnU-Net channel suffix for several channels).
  std::vector<InferenceCase> file_cases() const {
    std::vector<InferenceCase> result;
    std::map<std::string, std::size_t> by_id;
    for (const auto& f : files) {
      const std::string stem = case_id_of(f.path);
      const std::optional<ChannelStem> nnunet = split_channel_stem(stem);
      if (in_channels == 1) {
        InferenceCase c;
        c.id = nnunet && nnunet->channel == 0 ? nnunet->case_id : stem;
        c.channels = {f.path};
        c.output_extension = output_extension_for(f.extension);
        result.push_back(std::move(c));
        continue;
      }
      if (!nnunet) {
        InferenceCase c;
        c.id = stem;
        c.channels = {f.path};
        c.error = "'" + f.path.string() + "': the model has " + std::to_string(in_channels) +
                  " input channels: name the files CASE_0000" + f.extension + ", CASE_0001" + f.extension + ", ...";
        result.push_back(std::move(c));
        continue;
      }
      const std::string id = nnunet->case_id;
      const auto channel = static_cast<std::int64_t>(nnunet->channel);
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        InferenceCase c;
        c.id = id;
        c.channels.assign(static_cast<std::size_t>(in_channels), fs::path());
        c.output_extension = output_extension_for(f.extension);
        it = by_id.emplace(id, result.size()).first;
        result.push_back(std::move(c));
      }
      InferenceCase& c = result[it->second];
      if (channel >= in_channels) {
        c.error = "'" + f.path.string() + "': channel " + std::to_string(channel) + ", but the model has only " +
                  std::to_string(in_channels) + " input channels";
      } else if (!c.channels[static_cast<std::size_t>(channel)].empty()) {
        c.error = "'" + f.path.string() + "': channel " + std::to_string(channel) + " of case '" + id +
                  "' given twice (also '" + c.channels[static_cast<std::size_t>(channel)].string() + "')";
      } else {
        c.channels[static_cast<std::size_t>(channel)] = f.path;
      }
    }
    for (auto& c : result) {
      if (!c.error.empty() || in_channels == 1) continue;
      for (std::size_t ch = 0; ch < c.channels.size(); ++ch) {
        if (c.channels[ch].empty()) {
          const fs::path& any = *std::find_if(c.channels.begin(), c.channels.end(),
                                              [](const fs::path& p) { return !p.empty(); });
          c.error = "case '" + c.id + "' (" + any.string() + "): channel file " + channel_stem(c.id, ch) + " is missing";
          break;
        }
      }
      // Keep only the given paths for reporting.
      if (!c.error.empty()) {
        c.channels.erase(std::remove_if(c.channels.begin(), c.channels.end(), [](const fs::path& p) { return p.empty(); }),
                         c.channels.end());
      }
    }
    return result;
  }
};

}  // namespace

std::string InferenceCase::input_text() const {
  std::string s = channels.empty() ? id : channels.front().string();
  if (channels.size() > 1) s += " (+" + std::to_string(channels.size() - 1) + " channel file(s))";
  if (!series_uid.empty()) s += " (series " + series_uid + ")";
  return s;
}

std::vector<InferenceCase> collect_inference_cases(const std::vector<fs::path>& inputs, std::int64_t in_channels) {
  Collector collector{std::max<std::int64_t>(in_channels, 1), {}, {}};
  for (const auto& input : inputs) collector.add(input);
  std::vector<InferenceCase> cases = collector.file_cases();
  cases.insert(cases.end(), collector.cases.begin(), collector.cases.end());
  // Two inputs with one case name would overwrite each other's outputs.
  std::map<std::string, std::string> seen;
  for (auto& c : cases) {
    if (!c.error.empty()) continue;
    const auto [it, inserted] = seen.emplace(c.id, c.input_text());
    if (!inserted) {
      c.error = "'" + c.input_text() + "': same case name '" + c.id + "' as '" + it->second +
                "' (their outputs would overwrite each other; rename one)";
    }
  }
  return cases;
}

}  // namespace medseg::pipeline
