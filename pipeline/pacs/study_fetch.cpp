#include "pipeline/pacs/study_fetch.h"

#include <unistd.h>

#include <cstdio>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "pipeline/pacs/case_queue.h"
#include "pipeline/pacs/dicom_instance.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

std::string series_folder_name(const std::string& series_uid) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(core::fnv1a(series_uid)));
  return name;
}

FetchResult fetch_study(const NodeConfig& config, const FetchOptions& options) {
  if (!config.pacs) {
    throw ConfigError("'" + config.file.string() + "': no pacs (or destination) to fetch from");
  }
  if (options.to_queue == !options.output.empty()) {
    throw ConfigError("fetch: give either an output folder or --queue");
  }
  ScuOptions scu;
  scu.calling_ae = config.node.ae_title;
  scu.remote = *config.pacs;
  scu.timeouts = config.node.timeouts;
  scu.tls = config.node.tls;

  FetchResult result;
  result.studies = find_studies(scu, options.study_uid, options.accession_number);
  if (result.studies.empty()) {
    throw IoError("no study at " + describe(*config.pacs) + " has " +
                  (options.study_uid.empty() ? "accession number '" + options.accession_number + "'"
                                             : "Study Instance UID " + options.study_uid));
  }

  // Instances are collected per series in a staging folder on the file
  // system of their destination, then moved there in one rename per series.
  const fs::path destination = options.to_queue ? config.queue.folder / "inbox" : options.output;
  std::error_code ec;
  fs::create_directories(destination, ec);
  if (ec) throw IoError("cannot create '" + destination.string() + "': " + ec.message());
  const fs::path staging = destination / (".fetch-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  fs::create_directories(staging / "incoming", ec);
  if (ec) throw IoError("cannot create '" + staging.string() + "': " + ec.message());

  struct Collected {
    InstanceHeader first;
    std::int64_t instances = 0;
  };
  std::map<std::string, Collected> collected;  // by series folder name
  const RetrievedSink sink = [&](const fs::path& file, const InstanceHeader& header) -> std::string {
    const std::string key = series_folder_name(header.series_uid);
    std::error_code e;
    fs::create_directories(staging / key, e);
    fs::rename(file, staging / key / instance_file_name(header.sop_instance_uid), e);
    if (e) return "cannot store the instance: " + e.message();
    auto& c = collected[key];
    if (c.instances++ == 0) c.first = header;
    return {};
  };
  try {
    for (const auto& study : result.studies) {
      const RetrieveCounts counts = get_study(scu, study.study_uid, staging / "incoming", sink);
      result.counts.completed += counts.completed;
      result.counts.failed += counts.failed;
      result.counts.warning += counts.warning;
      result.counts.stored += counts.stored;
      result.counts.refused += counts.refused;
    }
    for (const auto& [key, c] : collected) {
      FetchedSeries s;
      s.series_uid = c.first.series_uid;
      s.modality = c.first.series.modality;
      s.series_description = c.first.series.series_description;
      s.instances = c.instances;
      if (options.to_queue) {
        CaseRecord r;
        r.study_uid = c.first.study_uid;
        r.series_uid = c.first.series_uid;
        r.accession_number = c.first.accession_number;
        r.modality = c.first.series.modality;
        r.body_part = c.first.series.body_part;
        r.series_description = c.first.series.series_description;
        r.source = "pacs fetch from " + config.pacs->ae_title;
        s.case_id = hand_over_series(config.queue.folder, r, staging / key);
        s.folder = config.queue.folder / "inbox" / s.case_id;
      } else {
        s.folder = options.output / key;
        // A series fetched before is replaced whole.
        const fs::path old = staging / (key + ".old");
        if (fs::exists(s.folder, ec)) fs::rename(s.folder, old, ec);
        fs::rename(staging / key, s.folder, ec);
        if (ec) throw IoError("cannot move the series into '" + s.folder.string() + "': " + ec.message());
      }
      result.series.push_back(s);
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  fs::remove_all(staging, ec);
  return result;
}

}  // namespace medseg::pipeline::pacs
