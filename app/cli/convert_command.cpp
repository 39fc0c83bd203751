// `medseg convert`: a label map plus the DICOM series it was made on -> a
// DICOM SEG (--reference), or a volume -> a DICOM series (--to dicom-series,
// e.g. to hand the CT sample to DICOM tools and demos).
#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>

#include "app/cli/command.h"
#include "app/version.h"
#include "core/error.h"
#include "models/bundle.h"
#include "pipeline/grid_compare.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/dicom_series_writer.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/orientation.h"
#include "pipeline/preprocess/reorient.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct ConvertOptions {
  std::string input;
  std::string output;
  std::string reference;
  std::string series_uid;
  std::string model;
  std::string to;
  std::string modality = "CT";
};

int write_seg(const ConvertOptions& o) {
  const auto series = pipeline::list_dicom_series(o.reference);
  if (series.empty()) throw IoError("cannot read '" + o.reference + "': no DICOM series found in this folder");
  const pipeline::DicomSeriesInfo* chosen = nullptr;
  for (const auto& s : series) {
    if (o.series_uid.empty() ? series.size() == 1 : s.uid == o.series_uid) chosen = &s;
  }
  if (chosen == nullptr) {
    throw IoError("cannot read '" + o.reference + "': " +
                  (o.series_uid.empty() ? "folder holds " + std::to_string(series.size()) +
                                              " DICOM series; choose one with --series UID"
                                        : "no DICOM series with UID " + o.series_uid));
  }
  const pipeline::Volume scan = pipeline::read_dicom_series(o.reference, *chosen);
  const pipeline::Volume read = pipeline::read_label_map(o.input);
  // The GUI's check before it draws labels over a scan, except that the same
  // voxels in another axis order are accepted: a NIfTI of the series (ours
  // or dcm2niix's) often runs k the other way than ITK's grid of the series,
  // whose k axis is always the slice normal. Re-indexing is exact.
  const std::string difference = pipeline::grid_difference(read.geometry, scan.geometry);
  const std::optional<pipeline::Volume> labels = pipeline::same_voxels_on_grid(read, scan.geometry);
  if (!labels) {
    throw IoError("label map '" + o.input + "' is not on the grid of the DICOM series in '" + o.reference + "' (" +
                  difference + ")");
  }
  if (!difference.empty()) {
    std::cout << "label map re-indexed onto the series' grid (same voxels, other axis order: " +
                     pipeline::orientation_code(read.geometry.direction) + " -> " +
                     pipeline::orientation_code(scan.geometry.direction) + ")\n";
  }
  pipeline::DicomSegWriteOptions options;
  options.software_version = std::string(kVersion) + " (" + kGitCommit + ")";
  if (!o.model.empty()) {
    const models::BundleInfo info = models::read_bundle_info(o.model);
    options.labels = info.labels;
    options.algorithm_name = "medseg " + info.name + " " + info.version;
    options.series_description = "medseg " + info.name;
  }
  const auto start = std::chrono::steady_clock::now();
  pipeline::write_dicom_seg(*labels, chosen->files, o.output, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto info = pipeline::read_dicom_seg_info(o.output);
  std::cout << o.output << ": DICOM SEG, " << info.segments.size() << " segment(s), " << info.frames
            << " frame(s), referencing series " << chosen->uid << "; written in " << std::fixed
            << std::setprecision(2) << seconds << " s\n";
  return 0;
}

int write_series(const ConvertOptions& o) {
  const pipeline::Volume volume = pipeline::read_volume(o.input);
  pipeline::DicomSeriesWriteOptions options;
  options.modality = o.modality;
  options.series_description = fs::path(o.input).filename().string();
  const auto files = pipeline::write_dicom_series(volume, o.output, options);
  std::cout << o.output << ": DICOM series, " << files.size() << " slices (" << o.modality << ")\n";
  return 0;
}

}  // namespace

Command add_convert_command(CLI::App& parent) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cli = parent.add_subcommand(
      "convert", "Label map + its DICOM series -> DICOM SEG (--reference), or volume -> DICOM series "
                 "(--to dicom-series)");
  cli->add_option("input", o->input, "Label map (with --reference) or volume (with --to dicom-series)")->required();
  cli->add_option("--output,-o", o->output, "Output: a .dcm file (DICOM SEG) or a folder (DICOM series)")
      ->required();
  cli->add_option("--reference", o->reference, "DICOM series folder the label map was made on");
  cli->add_option("--series", o->series_uid, "SeriesInstanceUID when the reference folder holds several series");
  cli->add_option("--model", o->model, "Model bundle whose label names and colours the segments get");
  cli->add_option("--to", o->to, "dicom-series: write the input volume as a DICOM series folder")
      ->check(CLI::IsMember({"dicom-series"}));
  cli->add_option("--modality", o->modality, "CT or MR, with --to dicom-series (default CT)")
      ->check(CLI::IsMember({"CT", "MR"}));
  return {cli, [o] {
            if (o->reference.empty() == o->to.empty()) {
              throw ConfigError("convert: give either --reference DICOM_DIR (DICOM SEG) or --to dicom-series");
            }
            return o->to.empty() ? write_seg(*o) : write_series(*o);
          }};
}

}  // namespace medseg::app
