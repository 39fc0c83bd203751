#pragma once
// One case of the node's queue: a received series on its way to the PACS.
// Its record (QUEUE/cases/ID/case.json) is the only place its state lives,
// and it is replaced in one step (written to a temporary, flushed to disk,
// renamed), so after a crash or kill -9 every case is in exactly one of the
// states below. The transitions and what a restart does in each state are
// described in docs/dicom.md.
#include <cstdint>
#include <filesystem>
#include <string>

namespace medseg::pipeline::pacs {

enum class CaseState {
  /// Instances are arriving; complete after node.series_complete_seconds of quiet.
  kReceived,
  /// Complete and matched by a rule: waiting to be segmented.
  kQueued,
  /// The SEG is written (its SOP Instance UID is fixed from here on): waiting
  /// to be sent, or to be sent again after a failed attempt.
  kSegmented,
  /// The destination stored the SEG. Terminal.
  kSent,
  /// Segmentation failed, or every send attempt did. Terminal.
  kFailed,
  /// No rule matched (kept on disk because queue.unmatched is keep). Terminal.
  kUnmatched,
  /// Segmented, but no label was found: there is no SEG to send. Terminal.
  kEmpty,
};

std::string to_string(CaseState state);
CaseState parse_case_state(const std::string& name);
/// Sent, failed, unmatched, empty.
bool is_terminal(CaseState state);

struct CaseRecord {
  std::string id;
  CaseState state = CaseState::kReceived;
  std::string study_uid;
  std::string series_uid;
  std::string accession_number;
  std::string modality;
  std::string body_part;
  std::string series_description;
  /// Who sent it: the calling AE title, or "pacs fetch".
  std::string source;
  /// Set when the case arrives whole (from `medseg pacs fetch --queue`):
  /// no quiet period is waited for.
  bool complete = false;
  std::int64_t instances = 0;
  /// The rule that matched (queued and later).
  std::string rule;
  /// Times as Unix seconds (UTC, millisecond resolution); 0 = not yet.
  double received_at = 0;
  double last_instance_at = 0;
  double queued_at = 0;
  double segmented_at = 0;
  double sent_at = 0;
  /// Send attempts made so far, and when the next one is due.
  int attempts = 0;
  double next_attempt_at = 0;
  /// The SEG, relative to the case folder, and its SOP Instance UID.
  std::string seg_file;
  std::string seg_sop_instance_uid;
  /// Why it failed / the last send error.
  std::string message;
};

/// The record as JSON (one object) and back. parse throws IoError naming
/// `file` when the text is not a record.
std::string case_record_json(const CaseRecord& record);
CaseRecord parse_case_record(const std::string& text, const std::filesystem::path& file);

/// Reads QUEUE/cases/ID/case.json. Throws IoError.
CaseRecord read_case_record(const std::filesystem::path& file);
/// Replaces `file` with the record in one step: temporary sibling written,
/// fsync'ed, renamed over `file`, folder fsync'ed. Throws IoError.
void write_case_record(const std::filesystem::path& file, const CaseRecord& record);

/// Now as Unix seconds (system clock).
double unix_now();
/// Unix seconds as ISO 8601 UTC with milliseconds, e.g. 2026-12-02T06:01:02.345Z.
std::string iso_time(double unix_seconds);

}  // namespace medseg::pipeline::pacs
