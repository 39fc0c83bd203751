#include "pipeline/infer/batch_inference.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/enum_names.h"
#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/infer/inference_report.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr core::EnumNames<CaseStatus, 3> kStatusNames{
    "case status", {{{CaseStatus::kDone, "done"}, {CaseStatus::kSkipped, "skipped"}, {CaseStatus::kFailed, "failed"}}}};

}  // namespace

std::string to_string(CaseStatus status) { return kStatusNames.name(status); }

fs::path label_output_path(const InferenceCase& c, const fs::path& output_dir) {
  return output_dir / (c.id + c.output_extension);
}

namespace {
std::string extension_of(LabelFormat f) {
  switch (f) {
    case LabelFormat::kNifti: return ".nii.gz";
    case LabelFormat::kNrrd: return ".nrrd";
    case LabelFormat::kDicomSeg: return ".dcm";
  }
  return ".nii.gz";
}
}  // namespace

std::vector<LabelFormat> parse_label_formats(const std::string& text) {
  std::vector<LabelFormat> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    LabelFormat f;
    if (name == "nifti") {
      f = LabelFormat::kNifti;
    } else if (name == "nrrd") {
      f = LabelFormat::kNrrd;
    } else if (name == "dicom-seg") {
      f = LabelFormat::kDicomSeg;
    } else {
      throw ConfigError("--format: unknown format '" + name + "' (expected nifti, nrrd, dicom-seg, comma-separated)");
    }
    if (std::find(out.begin(), out.end(), f) != out.end()) throw ConfigError("--format: '" + name + "' given twice");
    out.push_back(f);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<fs::path> label_output_paths(const InferenceCase& c, const fs::path& output_dir,
                                         const std::vector<LabelFormat>& formats) {
  if (formats.empty()) return {label_output_path(c, output_dir)};
  std::vector<fs::path> out;
  for (const auto f : formats) out.push_back(output_dir / (c.id + extension_of(f)));
  return out;
}

fs::path report_output_path(const InferenceCase& c, const fs::path& output_dir) {
  return output_dir / (c.id + ".json");
}

void ensure_writable_folder(const fs::path& folder) {
  std::error_code ec;
  if (fs::exists(folder, ec) && !fs::is_directory(folder, ec)) {
    throw IoError("cannot write to output folder '" + folder.string() + "': it is a file");
  }
  fs::create_directories(folder, ec);
  if (ec) throw IoError("cannot create output folder '" + folder.string() + "': " + ec.message());
  // Temporaries of an earlier run that was killed (kill -9) go first.
  core::remove_stale_temporaries(folder);
  const fs::path probe = core::temporary_sibling(folder / "medseg-write-test");
  {
    std::ofstream out(probe);
    if (!out) {
      throw IoError("cannot write to output folder '" + folder.string() + "': " + std::strerror(errno));
    }
  }
  fs::remove(probe, ec);
}

CaseOutcome run_inference_case(const Segmenter& segmenter, const InferenceCase& c, const CaseRunOptions& options) {
  const auto start = Clock::now();
  CaseOutcome out;
  out.id = c.id;
  out.input = c.input_text();
  out.label_files = label_output_paths(c, options.output_dir, options.formats);
  out.label_file = out.label_files.front();
  out.report_file = report_output_path(c, options.output_dir);
  if (!c.error.empty()) {
    out.message = c.error;
    return out;
  }
  std::error_code ec;
  const bool all_exist = std::all_of(out.label_files.begin(), out.label_files.end(),
                                     [&ec](const fs::path& f) { return fs::exists(f, ec); });
  if (!options.overwrite && all_exist && fs::exists(out.report_file, ec)) {
    out.status = CaseStatus::kSkipped;
    out.message = "outputs exist (use --overwrite to redo)";
    out.labels = labels_from_report(out.report_file);
    out.windows = windows_from_report(out.report_file);
    return out;
  }
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  try {
    std::vector<Volume> channels;
    if (!c.dicom_series.files.empty()) {
      channels.push_back(read_dicom_series(c.channels.front(), c.dicom_series));
    } else {
      for (const auto& p : c.channels) channels.push_back(read_volume(p));
    }
    out.read_seconds = seconds_since(start);
    const Segmentation s = segmenter.segment(channels, options.segment);
    const auto write_start = Clock::now();

    int max_value = 0;
    for (const auto& l : segmenter.info().labels) max_value = std::max(max_value, l.value);
    std::string probability_extension = c.output_extension;
    for (std::size_t f = 0; f < out.label_files.size(); ++f) {
      const bool seg = !options.formats.empty() && options.formats[f] == LabelFormat::kDicomSeg;
      if (!seg) {
        write_volume(s.labels, out.label_files[f], max_value < 256 ? PixelType::kUInt8 : PixelType::kInt16);
        if (!options.formats.empty() && probability_extension == c.output_extension) {
          probability_extension = extension_of(options.formats[f]);
        }
        continue;
      }
      if (c.dicom_series.files.empty()) {
        throw IoError("DICOM SEG output needs a DICOM series as input; '" + c.input_text() + "' is not one");
      }
      if (options.skip_empty_dicom_seg &&
          std::none_of(s.label_statistics.begin(), s.label_statistics.end(),
                       [](const LabelStatistics& l) { return l.value != 0 && l.voxels > 0; })) {
        out.dicom_seg_empty = true;
        out.message = "no label found: no DICOM SEG written";
        continue;
      }
      const models::BundleInfo& info = segmenter.info();
      DicomSegWriteOptions seg_options;
      seg_options.labels = info.labels;
      seg_options.algorithm_name = "medseg " + info.name + " " + info.version;
      seg_options.software_version = options.software_version;
      seg_options.series_description = "medseg " + info.name;
      write_dicom_seg(s.labels, c.dicom_series.files, out.label_files[f], seg_options);
    }
    if (!options.formats.empty() && std::all_of(options.formats.begin(), options.formats.end(),
                                                [](LabelFormat f) { return f == LabelFormat::kDicomSeg; })) {
      probability_extension = ".nii.gz";  // probabilities have no DICOM SEG form here
    }
    if (s.probabilities) {
      const auto& labels = segmenter.info().labels;
      for (std::size_t k = 1; k < labels.size(); ++k) {
        Volume p = *s.probabilities;
        p.data = s.probabilities->data[static_cast<std::int64_t>(k)].contiguous();
        const fs::path file =
            options.output_dir / (c.id + "_prob_" + std::to_string(labels[k].value) + probability_extension);
        write_volume(p, file, PixelType::kFloat32);
        out.probability_files.push_back(file);
      }
    }
    out.write_seconds = seconds_since(write_start);
    out.labels = s.label_statistics;
    out.windows = s.windows;
    out.status = CaseStatus::kDone;
    out.seconds = seconds_since(start);
    // The report last: a case counts as done (and is skipped next time) only
    // once it is there.
    core::write_text_file_atomically(out.report_file, inference_report_json(segmenter, c, options, s, out));
  } catch (const Cancelled&) {
    throw;
  } catch (const std::exception& e) {
    // medseg errors, and LibTorch's or ITK's that escaped a wrapper: one
    // line in the report and summary.csv either way.
    out.status = CaseStatus::kFailed;
    out.message = core::one_line(e);
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace medseg::pipeline
