// `medseg info PATH...`: geometry, pixel type, intensities and DICOM details.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "app/cli/command.h"
#include "core/error.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/orientation.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct InfoOptions {
  std::vector<std::string> paths;
  std::string series_uid;
  bool as_json = false;
};

json describe(const pipeline::Volume& v) {
  const auto& g = v.geometry;
  json direction = json::array();
  for (int r = 0; r < 3; ++r) {
    direction.push_back({g.direction_at(r, 0), g.direction_at(r, 1), g.direction_at(r, 2)});
  }
  json j = {{"path", v.source_path},
            {"size", g.size},
            {"spacing_mm", g.spacing},
            {"origin_mm_lps", g.origin},
            {"direction_lps", direction},
            {"orientation", pipeline::orientation_code(g.direction)},
            {"pixel_type", v.pixel_type},
            {"intensity",
             {{"min", v.data.min().item<double>()},
              {"max", v.data.max().item<double>()},
              {"mean", v.data.mean().item<double>()}}}};
  const auto& m = v.metadata;
  if (!m.series_uid.empty()) {
    j["dicom"] = {{"modality", m.modality},
                  {"manufacturer", m.manufacturer},
                  {"model", m.model},
                  {"series_description", m.series_description},
                  {"series_uid", m.series_uid}};
    if (m.window_center && m.window_width) {
      j["dicom"]["window"] = {{"center", *m.window_center}, {"width", *m.window_width}};
    }
  }
  return j;
}

// A DICOM SEG: its segments and references, and the label map on the grid
// its frames span (the source series' full extent is not in the SEG).
json describe_seg(const std::string& path) {
  const pipeline::DicomSegInfo info = pipeline::read_dicom_seg_info(path);
  pipeline::Volume labels = pipeline::read_dicom_seg(path);
  labels.data = labels.data.to(at::kFloat);  // the intensity statistics are float
  json j = describe(labels);
  json segments = json::array();
  for (const auto& s : info.segments) {
    json seg = {{"number", s.number},
                {"label_value", s.label_value},
                {"label", s.label},
                {"algorithm_type", s.algorithm_type},
                {"algorithm_name", s.algorithm_name},
                {"category", {s.category.value, s.category.scheme, s.category.meaning}},
                {"type", {s.type.value, s.type.scheme, s.type.meaning}},
                {"frames", s.frames}};
    if (s.rgb) seg["color"] = *s.rgb;
    segments.push_back(seg);
  }
  j["dicom_seg"] = {{"series_uid", info.series_uid},
                    {"series_description", info.series_description},
                    {"sop_instance_uid", info.sop_instance_uid},
                    {"frame_of_reference_uid", info.frame_of_reference_uid},
                    {"referenced_series_uids", info.referenced_series_uids},
                    {"frames", info.frames},
                    {"segments", segments}};
  return j;
}

json describe_series_list(const std::string& path,
                          const std::vector<pipeline::DicomSeriesInfo>& series) {
  json list = json::array();
  for (const auto& s : series) {
    list.push_back({{"series_uid", s.uid},
                    {"description", s.description},
                    {"modality", s.modality},
                    {"files", s.files.size()},
                    {"patient_name", s.patient_name},
                    {"patient_id", s.patient_id},
                    {"study_date", s.study_date},
                    {"study_description", s.study_description}});
  }
  return {{"path", path}, {"series", list}};
}

std::string numbers(const json& values, const char* separator) {
  std::ostringstream out;
  out << std::setprecision(8);
  bool first = true;
  for (const auto& v : values) {
    out << (first ? "" : separator) << v.get<double>();
    first = false;
  }
  return out.str();
}

void print_text(const json& j) {
  std::cout << j["path"].get<std::string>() << "\n";
  if (j.contains("series")) {
    std::cout << "  folder holds " << j["series"].size()
              << " DICOM series; choose one with --series UID:\n";
    for (const auto& s : j["series"]) {
      std::cout << "    " << s["series_uid"].get<std::string>() << "  "
                << s["modality"].get<std::string>() << "  " << s["files"].get<std::size_t>()
                << " files  " << s["study_date"].get<std::string>() << "  "
                << s["description"].get<std::string>() << "\n";
    }
    return;
  }
  std::cout << "  size         " << numbers(j["size"], " x ") << " voxels\n"
            << "  spacing      " << numbers(j["spacing_mm"], " x ") << " mm\n"
            << "  origin       " << numbers(j["origin_mm_lps"], ", ") << " mm (LPS)\n"
            << "  direction    ";
  for (int r = 0; r < 3; ++r) {
    std::cout << (r ? "               " : "") << "[" << numbers(j["direction_lps"][r], " ") << "]"
              << (r == 0 ? "  orientation " + j["orientation"].get<std::string>() : "") << "\n";
  }
  const auto& in = j["intensity"];
  std::cout << "  pixel type   " << j["pixel_type"].get<std::string>() << "\n"
            << std::setprecision(6) << "  intensity    min " << in["min"].get<double>() << ", max "
            << in["max"].get<double>() << ", mean " << in["mean"].get<double>() << "\n";
  if (j.contains("dicom")) {
    const auto& d = j["dicom"];
    std::cout << "  modality     " << d["modality"].get<std::string>() << "\n"
              << "  manufacturer " << d["manufacturer"].get<std::string>() << "\n"
              << "  model        " << d["model"].get<std::string>() << "\n"
              << "  series       " << d["series_description"].get<std::string>() << "\n"
              << "  series UID   " << d["series_uid"].get<std::string>() << "\n";
    if (d.contains("window")) {
      std::cout << "  window       center " << d["window"]["center"].get<double>() << ", width "
                << d["window"]["width"].get<double>() << " (stored)\n";
    }
  }
  if (j.contains("dicom_seg")) {
    const auto& d = j["dicom_seg"];
    std::cout << "  DICOM SEG    " << d["frames"].get<std::int64_t>() << " frames; the grid above spans them only\n";
    for (const auto& r : d["referenced_series_uids"]) {
      std::cout << "  references   series " << r.get<std::string>() << "\n";
    }
    for (const auto& seg : d["segments"]) {
      std::cout << "  segment " << seg["number"].get<int>() << "    label value " << seg["label_value"].get<int>()
                << "  '" << seg["label"].get<std::string>() << "'  " << seg["type"][2].get<std::string>() << " ("
                << seg["type"][1].get<std::string>() << " " << seg["type"][0].get<std::string>() << ")  "
                << seg["algorithm_type"].get<std::string>() << "  " << seg["frames"].get<std::int64_t>()
                << " frames\n";
    }
  }
}

int run_info(const InfoOptions& options) {
  json results = json::array();
  int exit_code = 0;
  for (const auto& path : options.paths) {
    try {
      std::error_code ec;
      if (fs::is_directory(path, ec) && options.series_uid.empty()) {
        const auto series = pipeline::list_dicom_series(path);
        if (series.size() > 1) {
          results.push_back(describe_series_list(path, series));
          continue;
        }
        if (series.size() == 1) {  // read it without listing the folder again
          results.push_back(describe(pipeline::read_dicom_series(path, series.front())));
          continue;
        }
      }
      if (pipeline::is_dicom_seg(path)) {
        results.push_back(describe_seg(path));
        continue;
      }
      pipeline::ReadOptions read_options;
      read_options.series_uid = options.series_uid;
      results.push_back(describe(pipeline::read_volume(path, read_options)));
    } catch (const Error& e) {
      // Report and go on with the other paths; the exit code remembers.
      std::cerr << "medseg: error: " << e.what() << "\n";
      exit_code = 2;
    }
  }
  if (options.as_json) {
    std::cout << results.dump(2) << "\n";
  } else {
    for (const auto& j : results) print_text(j);
  }
  return exit_code;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* cli = parent.add_subcommand(
      "info", "Print geometry, pixel type, intensities (and DICOM details) of volumes");
  cli->add_option("paths", options->paths,
                  "NIfTI (.nii/.nii.gz), NRRD, MetaImage (.mha/.mhd) files or DICOM series folders")
      ->required();
  cli->add_option("--series", options->series_uid,
                  "SeriesInstanceUID to read when a folder holds several DICOM series");
  cli->add_flag("--json", options->as_json, "Print a JSON array, one object per path");
  return {cli, [options] { return run_info(*options); }};
}

}  // namespace medseg::app
