#pragma once
// medseg as a DICOM SCU (DCMTK DcmSCU, in dicom_scu.cpp only): C-ECHO,
// C-STORE of files (the SEGs the node sends), and Study Root C-FIND and
// C-GET for `medseg pacs fetch`. C-GET rather than C-MOVE: the instances
// come back on the same association, so fetching needs no listening port and
// no route from the PACS back to us (Orthanc 1.10 serves C-GET). Every
// failure is a NetworkError whose message names the remote and the reason.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/pacs/dicom_instance.h"
#include "pipeline/config/node_config.h"

namespace medseg::pipeline::pacs {

struct ScuOptions {
  /// Our (calling) AE title.
  std::string calling_ae;
  RemoteAe remote;
  Timeouts timeouts;
  /// Used when remote.tls is set.
  TlsConfig tls;
};

/// "AE@HOST:PORT", for messages.
std::string describe(const RemoteAe& remote);

/// C-ECHO. Throws NetworkError.
void echo(const ScuOptions& options);

/// Sends `files` over one association (a presentation context per SOP class
/// found in them). The remote stored every one (status success, or a
/// warning) or NetworkError is thrown naming the first that failed and the
/// status or reason.
void store_files(const ScuOptions& options, const std::vector<std::filesystem::path>& files);

struct StudyMatch {
  std::string study_uid;
  std::string accession_number;
  std::string study_date;
  std::string study_description;
  std::string modalities;
  std::string series_count;
  std::string instance_count;
};

/// Study Root C-FIND at STUDY level by Study Instance UID or by Accession
/// Number (exactly one given). Throws NetworkError.
std::vector<StudyMatch> find_studies(const ScuOptions& options, const std::string& study_uid,
                                     const std::string& accession_number);

struct RetrieveCounts {
  /// From the final C-GET response.
  int completed = 0;
  int failed = 0;
  int warning = 0;
  /// Instances we received and kept / refused.
  int stored = 0;
  int refused = 0;
};

/// Keeps a retrieved, checked instance: `file` is a temporary in the
/// folder given to get_study, which the callback moves away. Returns empty,
/// or the reason it was not kept.
using RetrievedSink = std::function<std::string(const std::filesystem::path& file, const InstanceHeader& header)>;

/// Study Root C-GET of a whole study; each instance is written to a
/// temporary in `incoming`, checked (read_received_instance) and handed to
/// `sink`. Throws NetworkError when the association fails or the C-GET ends
/// with a failure status.
RetrieveCounts get_study(const ScuOptions& options, const std::string& study_uid,
                         const std::filesystem::path& incoming, const RetrievedSink& sink);

}  // namespace medseg::pipeline::pacs
