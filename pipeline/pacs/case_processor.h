#pragma once
// The work on one series that `medseg serve` and `medseg pacs fetch
// --segment` share: which rule it falls under, segmenting it with the rule's
// bundle into a DICOM SEG (pipeline/infer's run_inference_case, the same code
// as `medseg infer --format dicom-seg`), and sending a SEG to the
// destination.
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/infer/segmenter.h"
#include "pipeline/config/node_config.h"
#include "pipeline/pacs/series_rules.h"

namespace medseg::pipeline::pacs {

struct SegmentedSeries {
  /// The SEG (absent when `empty`), and the report next to it.
  std::filesystem::path seg_file;
  std::filesystem::path report_file;
  std::string seg_sop_instance_uid;
  /// No foreground label was found: no SEG.
  bool empty = false;
  double seconds = 0;
  std::vector<LabelStatistics> labels;
};

class CaseProcessor {
 public:
  /// Loads the bundle of every rule (each folder once) and checks the rule's
  /// inference options against it. Throws ConfigError naming the rule's
  /// bundle key and line.
  CaseProcessor(const NodeConfig& config, std::string software_version);
  ~CaseProcessor();

  /// The first rule the series falls under, or nullptr.
  const Rule* match(const SeriesAttributes& series) const;
  /// The rule called `name`, or nullptr.
  const Rule* rule(const std::string& name) const;

  /// Segments the DICOM series in `series_dir` with `rule`'s bundle and
  /// writes OUTPUT/NAME.dcm (the SEG) and OUTPUT/NAME.json (the report),
  /// NAME being the series folder's name; outputs already there from an
  /// interrupted run are kept. `cancel` (optional) stops the segmentation
  /// (medseg::Cancelled). Throws medseg::Error when the series cannot be
  /// segmented.
  SegmentedSeries segment(const Rule& rule, const std::filesystem::path& series_dir,
                          const std::filesystem::path& output_dir, const std::atomic<bool>* cancel) const;

  /// C-STORE of `files` to the destination (node.yaml `destination`).
  /// Throws NetworkError, or ConfigError when no destination is configured.
  void send(const std::vector<std::filesystem::path>& files) const;

 private:
  const NodeConfig& config_;
  std::string software_version_;
  std::map<std::filesystem::path, std::unique_ptr<Segmenter>> segmenters_;
};

}  // namespace medseg::pipeline::pacs
