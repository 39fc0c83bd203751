#include "pipeline/pacs/case_processor.h"

#include "core/error.h"
#include "core/error_message.h"
#include "models/bundle.h"
#include "models/precision.h"
#include "pipeline/infer/batch_inference.h"
#include "pipeline/infer/case_discovery.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/pacs/dicom_scu.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

CaseProcessor::CaseProcessor(const NodeConfig& config, std::string software_version)
    : config_(config), software_version_(std::move(software_version)) {
  for (const auto& rule : config_.rules) {
    try {
      auto& segmenter = segmenters_[rule.bundle];
      if (!segmenter) segmenter = std::make_unique<Segmenter>(models::load_bundle(rule.bundle));
      segmenter->check(rule.infer);
      models::resolve_precision(rule.infer.precision);  // an emulated bf16 is warned about now
    } catch (const std::exception& e) {
      throw ConfigError(rule.bundle_where + ": bundle '" + rule.bundle.string() + "': " + core::one_line(e));
    }
  }
}

CaseProcessor::~CaseProcessor() = default;

const Rule* CaseProcessor::match(const SeriesAttributes& series) const { return match_rule(config_.rules, series); }

const Rule* CaseProcessor::rule(const std::string& name) const {
  for (const auto& r : config_.rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

SegmentedSeries CaseProcessor::segment(const Rule& rule, const fs::path& series_dir, const fs::path& output_dir,
                                       const std::atomic<bool>* cancel) const {
  const Segmenter& segmenter = *segmenters_.at(rule.bundle);
  auto cases = collect_inference_cases({series_dir}, segmenter.info().architecture.in_channels());
  if (cases.size() != 1) {
    throw IoError("'" + series_dir.string() + "' holds " + std::to_string(cases.size()) +
                  " DICOM series where one was expected");
  }
  const InferenceCase& c = cases.front();
  if (!c.error.empty()) throw IoError(c.error);
  CaseRunOptions options;
  options.output_dir = output_dir;
  options.formats = {LabelFormat::kDicomSeg};
  options.segment = rule.infer;
  if (cancel != nullptr) options.segment.progress = [cancel](double) { return !cancel->load(); };
  options.software_version = software_version_;
  options.model_path = rule.bundle.string();
  options.skip_empty_dicom_seg = true;
  ensure_writable_folder(output_dir);
  const CaseOutcome outcome = run_inference_case(segmenter, c, options);
  if (outcome.status == CaseStatus::kFailed) throw IoError(outcome.message);
  SegmentedSeries out;
  out.report_file = outcome.report_file;
  out.labels = outcome.labels;
  out.seconds = outcome.seconds;
  out.empty = outcome.dicom_seg_empty;
  if (!out.empty) {
    out.seg_file = outcome.label_file;
    out.seg_sop_instance_uid = read_dicom_seg_info(out.seg_file).sop_instance_uid;
  }
  return out;
}

void CaseProcessor::send(const std::vector<fs::path>& files) const {
  if (!config_.destination) throw ConfigError("'" + config_.file.string() + "': no destination to send to");
  ScuOptions o;
  o.calling_ae = config_.node.ae_title;
  o.remote = *config_.destination;
  o.timeouts = config_.node.timeouts;
  o.tls = config_.node.tls;
  store_files(o, files);
}

}  // namespace medseg::pipeline::pacs
