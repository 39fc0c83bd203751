#pragma once
// The node's queue on disk. Everything a case needs is in its own folder,
// and every change of state is one rename, so the queue survives kill -9:
//
//   QUEUE/.lock               held (flock) by the `medseg serve` using it
//   QUEUE/incoming/           instances while they are received (temporaries)
//   QUEUE/inbox/ID/           whole cases handed over by `medseg pacs fetch --queue`
//   QUEUE/cases/ID/case.json  the case record (case_record.h): its state
//   QUEUE/cases/ID/series/    the received instances, named by the node
//   QUEUE/cases/ID/out/       series.dcm (the SEG) and series.json (the report)
//
// Case IDs sort by arrival: YYYYMMDD-HHMMSS-mmm-HHHHHHHH (UTC time of the
// first instance, 8 hexadecimal digits of the series' hash).
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pipeline/pacs/case_record.h"
#include "pipeline/pacs/dicom_instance.h"

namespace medseg::pipeline::pacs {

class CaseQueue {
 public:
  /// Opens the queue (creating its folders), takes its lock, removes the
  /// temporaries a crash left, and indexes the unfinished cases (received,
  /// queued, segmented). Throws IoError, e.g. when another process holds the
  /// lock ("in use by process PID").
  explicit CaseQueue(std::filesystem::path folder);
  ~CaseQueue();
  CaseQueue(const CaseQueue&) = delete;
  CaseQueue& operator=(const CaseQueue&) = delete;

  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path incoming_dir() const;
  std::filesystem::path case_dir(const std::string& id) const;
  std::filesystem::path series_dir(const std::string& id) const;
  std::filesystem::path output_dir(const std::string& id) const;

  struct Added {
    std::string case_id;
    /// The first instance of a new case.
    bool new_case = false;
    /// An instance with this SOP Instance UID was already in the case (it is
    /// replaced by the new copy).
    bool duplicate = false;
  };
  /// Moves the received `file` (a temporary in incoming_dir()) into the case
  /// receiving its series, creating that case (state received) when the
  /// series is not being received. Thread-safe. Throws IoError; `file` is
  /// then left for the caller to remove.
  Added add_instance(const std::filesystem::path& file, const InstanceHeader& header, const std::string& source);

  /// The received cases that are complete: no instance for `quiet_seconds`
  /// (or arrived whole). They stop receiving: a later instance of the same
  /// series starts a new case. Each record comes with `instances` counted and
  /// `last_instance_at` set from the files. Thread-safe.
  std::vector<CaseRecord> take_complete(double quiet_seconds);

  /// Writes the record (one atomic, fsync'ed replace) and updates the index;
  /// terminal cases leave the index. Thread-safe. Throws IoError.
  void save(const CaseRecord& record);

  /// The oldest case that is queued, or segmented with its next send due at
  /// `now` (Unix seconds). Thread-safe.
  std::optional<CaseRecord> next_ready(double now) const;

  /// Moves the cases `medseg pacs fetch --queue` put in inbox/ into cases/
  /// and indexes them; returns their records. Thread-safe.
  std::vector<CaseRecord> adopt_inbox();

  /// The unfinished cases found when the queue was opened (oldest first).
  const std::vector<CaseRecord>& resumed() const { return resumed_; }

  /// Deletes a case's folder (a dropped, unmatched series): renamed aside
  /// first, so it is either there whole or gone.
  void remove_case(const std::string& id);
  /// Deletes a sent case's received images (its record, report and SEG stay).
  void remove_images(const std::string& id);

 private:
  std::string new_case_id(const std::string& series_uid, double now) const;

  std::filesystem::path folder_;
  int lock_fd_ = -1;
  mutable std::mutex mutex_;
  /// Unfinished cases by id.
  std::map<std::string, CaseRecord> active_;
  /// Series UID -> id of the case receiving it.
  std::map<std::string, std::string> receiving_;
  /// Case id -> when its last instance arrived (steady clock; set to the
  /// time the queue was opened for cases found on disk).
  std::map<std::string, std::chrono::steady_clock::time_point> last_arrival_;
  /// Cases take_complete handed out whose next record is not saved yet.
  std::set<std::string> completing_;
  std::vector<CaseRecord> resumed_;
};

/// Every case record under QUEUE/cases, oldest first (`medseg pacs queue`).
/// A record that cannot be read is listed as failed with the reason.
std::vector<CaseRecord> list_cases(const std::filesystem::path& queue_folder);

/// Hands a whole series over to the queue of a node (running or not):
/// `series_folder` (its instances already named by the node, on the queue's
/// file system, e.g. under QUEUE/inbox/.NAME) becomes QUEUE/inbox/ID/series
/// with `record` (state received, complete) as QUEUE/inbox/ID/case.json; the
/// case appears in inbox/ in one rename. Returns the case id. Throws IoError.
std::string hand_over_series(const std::filesystem::path& queue_folder, CaseRecord record,
                             const std::filesystem::path& series_folder);

}  // namespace medseg::pipeline::pacs
