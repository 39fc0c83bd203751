#pragma once
// `medseg pacs fetch`: a study from the configured PACS (C-FIND by Study
// Instance UID or Accession Number, then C-GET), into a folder (one folder
// per series, instances named by the node) or handed over to the node's
// queue, optionally segmented and sent right away.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/pacs/case_log.h"
#include "pipeline/pacs/case_processor.h"
#include "pipeline/pacs/dicom_scu.h"
#include "pipeline/config/node_config.h"

namespace medseg::pipeline::pacs {

struct FetchOptions {
  std::string study_uid;
  std::string accession_number;
  /// Output folder (created); empty with `to_queue`.
  std::filesystem::path output;
  /// Hand every series over to the queue of node.yaml (a running `medseg
  /// serve` adopts it within a fraction of a second, a stopped one when it
  /// starts).
  bool to_queue = false;
};

struct FetchedSeries {
  std::string series_uid;
  std::string modality;
  std::string series_description;
  std::int64_t instances = 0;
  /// OUTPUT/KEY (KEY: 16 hexadecimal digits of the series UID's hash), or
  /// the queue case id.
  std::filesystem::path folder;
  std::string case_id;
};

struct FetchResult {
  std::vector<StudyMatch> studies;
  std::vector<FetchedSeries> series;
  RetrieveCounts counts;
};

/// The folder name of a series in a fetch output: 16 hexadecimal digits of
/// the FNV-1a hash of its Series Instance UID.
std::string series_folder_name(const std::string& series_uid);

/// Finds and retrieves the study (all matching studies for an accession
/// number). Throws ConfigError (no pacs configured, bad options), IoError
/// (no study matches, output not writable) or NetworkError.
FetchResult fetch_study(const NodeConfig& config, const FetchOptions& options);

}  // namespace medseg::pipeline::pacs
