#include "app/gui/logic/pipeline_facade.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/error_message.h"
#include "core/timestamp.h"
#include "models/bundle.h"
#include "models/cpu_features.h"
#include "models/precision.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/preprocess/plan_json.h"
#include "pipeline/preprocess/preprocessor.h"

namespace medseg::gui {
namespace fs = std::filesystem;

// The CLI's rule (models/precision.h): CPUID plus a oneDNN ISA cap, and one
// warning for an explicit bf16 the CPU only emulates.
std::string auto_precision_label() {
  switch (models::auto_precision_rule(models::cpu_features())) {
    case models::AutoPrecisionRule::kNoNativeBf16: return "auto (fp32: no native bf16 on this CPU)";
    case models::AutoPrecisionRule::kAmx: return "auto (bf16: AMX on this CPU)";
    case models::AutoPrecisionRule::kMeasured: return "auto (the faster of fp32 and bf16, measured on this CPU)";
  }
  return "auto";
}

pipeline::Precision resolve_precision(const std::string& choice) {
  return models::resolve_precision(models::parse_precision(choice));
}

std::vector<fs::path> list_bundles(const fs::path& models_dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(models_dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(models_dir, ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / "model.yaml", ec)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

pipeline::SegmentOptions segment_options(const SegmentRequest& request, pipeline::ProgressCallback progress) {
  pipeline::SegmentOptions o;
  o.overlap = 0.5;
  o.windows_per_batch = 2;
  o.mirror = request.tta;
  o.precision = request.precision;
  o.domain = request.domain;
  o.progress = std::move(progress);
  return o;
}

at::Tensor segment_scan(const pipeline::Volume& scan, const SegmentRequest& request,
                        pipeline::ProgressCallback progress) {
  const pipeline::Segmenter segmenter(models::load_bundle(request.bundle));
  const auto options = segment_options(request, std::move(progress));
  segmenter.check(options);
  if (segmenter.info().architecture.in_channels() != 1) {
    throw ConfigError("model '" + request.bundle.string() + "' needs " +
                      std::to_string(segmenter.info().architecture.in_channels()) +
                      " input channels; the GUI opens one scan");
  }
  return segmenter.segment({scan}, options).labels.data.to(at::kShort).contiguous();
}

void adapt_bundle_to_scan(const fs::path& bundle_path, const pipeline::Volume& scan, const std::string& domain_name,
                          const fs::path& output, pipeline::ProgressCallback progress) {
  std::error_code ec;
  if (fs::exists(output, ec)) {
    throw IoError("adapt: '" + output.string() + "' already exists; choose a new folder for the adapted model");
  }
  models::Bundle bundle = models::load_bundle(bundle_path);
  pipeline::check_new_domain(bundle.info, domain_name);
  if (bundle.info.architecture.in_channels() != 1) {
    throw ConfigError("adapt: model '" + bundle_path.string() + "' needs " +
                      std::to_string(bundle.info.architecture.in_channels()) + " input channels");
  }
  const pipeline::Preprocessor preprocessor(pipeline::plan_from_json(bundle.info.preprocessing_json));
  std::vector<at::Tensor> images{preprocessor({scan}).image.data};
  pipeline::AdaptationOptions options;
  options.progress = std::move(progress);
  const std::int64_t index = pipeline::add_adapted_domain(bundle, domain_name, images, options);
  bundle.info.provenance.notes.push_back(core::utc_timestamp() + ": domain '" + domain_name + "' (index " +
                                         std::to_string(index) + ") added by prior adaptation (adaptation.h) on one unlabeled volume ('" +
                                         scan.source_path + "') with medseg-gui, fp32, from bundle '" +
                                         bundle_path.string() + "'; weights and metrics are those of the original");
  models::save_bundle(output, bundle.info, bundle.model);
}

fs::path label_table_path(const fs::path& path) {
  std::string name = path.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"}) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return path.parent_path() / (name + ".csv");
}


void save_label_map(const at::Tensor& labels, const pipeline::Geometry& geometry, const fs::path& path,
                    const std::vector<LabelDescription>& label_table) {
  pipeline::Volume v;
  v.data = labels;
  v.geometry = geometry;
  v.pixel_type = "int16";
  pipeline::write_volume(v, path, pipeline::PixelType::kInt16);
  std::string csv = "label,name,r,g,b\n";
  for (const LabelDescription& d : label_table) {
    csv += std::to_string(d.value) + "," + core::csv_field(d.name) + "," + std::to_string(d.color[0]) + "," +
           std::to_string(d.color[1]) + "," + std::to_string(d.color[2]) + "\n";
  }
  core::write_text_file_atomically(label_table_path(path), csv);
}

namespace {

std::vector<LabelDescription> read_label_table(const fs::path& table) {
  std::ifstream in(table, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw IoError("cannot read label table '" + table.string() + "'");
  const auto records = core::parse_csv(text.str());
  const auto bad = [&](std::size_t line, const std::string& what) {
    return IoError("label table '" + table.string() + "', line " + std::to_string(line) + ": " + what);
  };
  if (!records) throw bad(1, "a quoted field is not closed");
  if (records->empty() || (*records)[0] != std::vector<std::string>{"label", "name", "r", "g", "b"}) {
    throw bad(1, "expected the header label,name,r,g,b");
  }
  const auto integer = [&](const std::string& field, long lo, long hi, std::size_t line, const char* what) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(field.c_str(), &end, 10);
    if (field.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
      throw bad(line, std::string(what) + " " + core::quote_short(field) + " is not an integer in " +
                          std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  };
  std::vector<LabelDescription> out;
  for (std::size_t i = 1; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    if (r.size() == 1 && r[0].empty()) continue;  // a blank line
    if (r.size() != 5) throw bad(i + 1, std::to_string(r.size()) + " fields, expected 5");
    LabelDescription d;
    d.value = static_cast<std::int16_t>(integer(r[0], 1, 32767, i + 1, "label"));
    d.name = r[1];
    for (int c = 0; c < 3; ++c) {
      d.color[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(integer(r[static_cast<std::size_t>(2 + c)], 0, 255, i + 1, "colour"));
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace

std::vector<LabelDescription> stored_label_descriptions(const fs::path& path) {
  std::vector<LabelDescription> out;
  if (pipeline::is_dicom_seg(path)) {
    for (const pipeline::DicomSegment& s : pipeline::read_dicom_seg_info(path).segments) {
      if (s.label_value < 1 || s.label_value > 32767) continue;
      LabelDescription d = default_label_description(static_cast<std::int16_t>(s.label_value));
      if (!s.label.empty()) d.name = s.label;
      if (s.rgb) d.color = *s.rgb;
      out.push_back(d);
    }
    return out;
  }
  const fs::path table = label_table_path(path);
  if (table == path || !fs::exists(table)) return out;
  return read_label_table(table);
}

}  // namespace medseg::gui
