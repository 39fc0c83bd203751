#include "pipeline/infer/batch_inference.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/enum_names.h"
#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/infer/inference_report.h"
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
  const fs::path probe = folder / (".medseg-write-test-" + std::to_string(::getpid()));
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
  out.label_file = label_output_path(c, options.output_dir);
  out.report_file = report_output_path(c, options.output_dir);
  if (!c.error.empty()) {
    out.message = c.error;
    return out;
  }
  std::error_code ec;
  if (!options.overwrite && fs::exists(out.label_file, ec) && fs::exists(out.report_file, ec)) {
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
    write_volume(s.labels, out.label_file, max_value < 256 ? PixelType::kUInt8 : PixelType::kInt16);
    if (s.probabilities) {
      const auto& labels = segmenter.info().labels;
      for (std::size_t k = 1; k < labels.size(); ++k) {
        Volume p = *s.probabilities;
        p.data = s.probabilities->data[static_cast<std::int64_t>(k)].contiguous();
        const fs::path file =
            options.output_dir / (c.id + "_prob_" + std::to_string(labels[k].value) + c.output_extension);
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
