#include "pipeline/pacs/case_queue.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/error_message.h"
#include "core/hash.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kRecordName = "case.json";

bool is_temporary(const std::string& name) { return !name.empty() && name[0] == '.'; }

// Temporaries (".NAME.partial-PID-N", ".removing-*") a crash left behind.
void remove_temporaries(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_temporary(name) && name != ".lock") doomed.push_back(entry.path());
  }
  for (const auto& p : doomed) fs::remove_all(p, ec);
}

double file_mtime(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) * 1e-9;
}

// Counts the instance files of a series folder and finds the newest.
void count_instances(const fs::path& series, CaseRecord& r) {
  std::error_code ec;
  r.instances = 0;
  double newest = 0;
  for (const auto& entry : fs::directory_iterator(series, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_temporary(name) || !entry.is_regular_file(ec)) continue;
    ++r.instances;
    newest = std::max(newest, file_mtime(entry.path()));
  }
  if (newest > 0) r.last_instance_at = newest;
}

// Moves `from` to `to` in one rename, adding -2, -3, ... to `to` while it exists.
fs::path rename_unique(const fs::path& from, fs::path to) {
  std::error_code ec;
  const std::string base = to.string();
  for (int k = 2; fs::exists(to, ec); ++k) to = base + "-" + std::to_string(k);
  fs::rename(from, to, ec);
  if (ec) throw IoError("cannot move '" + from.string() + "' to '" + to.string() + "': " + ec.message());
  return to;
}

std::string case_id_for(const std::string& series_uid, double now) {
  const auto t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  const int ms = static_cast<int>((now - static_cast<double>(t)) * 1000.0) % 1000;
  char id[64];
  std::snprintf(id, sizeof id, "%s-%03d-%08llx", stamp, ms,
                static_cast<unsigned long long>(core::fnv1a(series_uid) & 0xffffffffULL));
  return id;
}

}  // namespace

CaseQueue::CaseQueue(fs::path folder) : folder_(std::move(folder)) {
  std::error_code ec;
  for (const char* sub : {"incoming", "inbox", "cases"}) {
    fs::create_directories(folder_ / sub, ec);
    if (ec) throw IoError("cannot create queue folder '" + (folder_ / sub).string() + "': " + ec.message());
  }
  const fs::path lock = folder_ / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw IoError("cannot open '" + lock.string() + "': " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    const ssize_t n = ::pread(lock_fd_, pid, sizeof pid - 1, 0);
    ::close(lock_fd_);
    lock_fd_ = -1;
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "?";
    holder.erase(holder.find_last_not_of(" \n") + 1);
    throw IoError("queue folder '" + folder_.string() + "' is in use by another medseg serve (process " + holder +
                  ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(lock_fd_, pid.data(), pid.size(), 0);
  }

  // Temporaries: received instances never answered, records and folders
  // being written or removed when the previous process died.
  remove_temporaries(incoming_dir());
  remove_temporaries(folder_ / "inbox");
  remove_temporaries(folder_ / "cases");
  const auto now = SteadyClock::now();
  for (const auto& entry : fs::directory_iterator(folder_ / "cases", ec)) {
    const std::string name = entry.path().filename().string();
    if (is_temporary(name) || !entry.is_directory(ec)) continue;
    remove_temporaries(entry.path());
    remove_temporaries(entry.path() / "series");
    remove_temporaries(entry.path() / "out");
    const fs::path record_file = entry.path() / kRecordName;
    if (!fs::exists(record_file, ec)) {
      // Created and killed before its first record was in place: the folder
      // is created with its record in one rename, so this is not ours.
      continue;
    }
    CaseRecord r;
    try {
      r = read_case_record(record_file);
    } catch (const Error&) {
      continue;  // listed as failed by `medseg pacs queue`; never resumed
    }
    r.id = name;
    if (is_terminal(r.state)) continue;
    if (r.state == CaseState::kReceived) {
      receiving_[r.series_uid] = r.id;
      last_arrival_[r.id] = now;  // a full quiet period from now
    }
    active_[r.id] = r;
    resumed_.push_back(r);
  }
}

CaseQueue::~CaseQueue() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

fs::path CaseQueue::incoming_dir() const { return folder_ / "incoming"; }
fs::path CaseQueue::case_dir(const std::string& id) const { return folder_ / "cases" / id; }
fs::path CaseQueue::series_dir(const std::string& id) const { return case_dir(id) / "series"; }
fs::path CaseQueue::output_dir(const std::string& id) const { return case_dir(id) / "out"; }

std::string CaseQueue::new_case_id(const std::string& series_uid, double now) const {
  const std::string base = case_id_for(series_uid, now);
  std::string id = base;
  std::error_code ec;
  for (int k = 2; active_.count(id) != 0 || fs::exists(case_dir(id), ec); ++k) id = base + "-" + std::to_string(k);
  return id;
}

CaseQueue::Added CaseQueue::add_instance(const fs::path& file, const InstanceHeader& header,
                                         const std::string& source) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Added added;
  const auto found = receiving_.find(header.series_uid);
  if (found == receiving_.end()) {
    const double now = unix_now();
    CaseRecord r;
    r.id = new_case_id(header.series_uid, now);
    r.state = CaseState::kReceived;
    r.study_uid = header.study_uid;
    r.series_uid = header.series_uid;
    r.accession_number = header.accession_number;
    r.modality = header.series.modality;
    r.body_part = header.series.body_part;
    r.series_description = header.series.series_description;
    r.source = source;
    r.received_at = now;
    // The folder appears with its record and an empty series/ in one rename.
    core::write_folder_atomically(case_dir(r.id), [&](const fs::path& tmp) {
      fs::create_directories(tmp / "series");
      write_case_record(tmp / kRecordName, r);
    });
    active_[r.id] = r;
    receiving_[r.series_uid] = r.id;
    added.new_case = true;
    added.case_id = r.id;
  } else {
    added.case_id = found->second;
  }
  const fs::path target = series_dir(added.case_id) / instance_file_name(header.sop_instance_uid);
  std::error_code ec;
  added.duplicate = fs::exists(target, ec);
  fs::rename(file, target, ec);
  if (ec) throw IoError("cannot store instance in '" + target.string() + "': " + ec.message());
  last_arrival_[added.case_id] = SteadyClock::now();
  return added;
}

std::vector<CaseRecord> CaseQueue::take_complete(double quiet_seconds) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto now = SteadyClock::now();
  std::vector<CaseRecord> out;
  for (const auto& [id, record] : active_) {  // ids sort by arrival
    if (record.state != CaseState::kReceived || completing_.count(id) != 0) continue;
    const auto last = last_arrival_.find(id);
    const bool quiet = last == last_arrival_.end() ||
                       std::chrono::duration<double>(now - last->second).count() >= quiet_seconds;
    if (!record.complete && !quiet) continue;
    CaseRecord r = record;
    count_instances(series_dir(id), r);
    out.push_back(r);
    completing_.insert(id);
    last_arrival_.erase(id);
    const auto receiving = receiving_.find(r.series_uid);
    if (receiving != receiving_.end() && receiving->second == id) receiving_.erase(receiving);
  }
  return out;
}

void CaseQueue::save(const CaseRecord& record) {
  const std::lock_guard<std::mutex> lock(mutex_);
  write_case_record(case_dir(record.id) / kRecordName, record);
  if (record.state != CaseState::kReceived) completing_.erase(record.id);
  if (is_terminal(record.state)) {
    active_.erase(record.id);
  } else {
    active_[record.id] = record;
  }
}

std::optional<CaseRecord> CaseQueue::next_ready(double now) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, r] : active_) {  // ids sort by arrival
    if (r.state == CaseState::kQueued) return r;
    if (r.state == CaseState::kSegmented && r.next_attempt_at <= now) return r;
  }
  return std::nullopt;
}

std::vector<CaseRecord> CaseQueue::adopt_inbox() {
  std::vector<CaseRecord> adopted;
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(folder_ / "inbox", ec)) {
    if (!is_temporary(entry.path().filename().string()) && entry.is_directory(ec)) entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& from : entries) {
    CaseRecord r;
    try {
      r = read_case_record(from / kRecordName);
    } catch (const Error&) {
      continue;  // not a hand-over (or half of one from an old version): left alone
    }
    const fs::path to = rename_unique(from, case_dir(from.filename().string()));
    r.id = to.filename().string();
    r.state = CaseState::kReceived;
    r.complete = true;
    write_case_record(to / kRecordName, r);
    active_[r.id] = r;  // complete: taken by the next take_complete, never receives
    adopted.push_back(r);
  }
  return adopted;
}

void CaseQueue::remove_case(const std::string& id) {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::error_code ec;
  const fs::path aside = folder_ / "cases" / (".removing-" + id);
  fs::rename(case_dir(id), aside, ec);
  if (!ec) fs::remove_all(aside, ec);
  active_.erase(id);
  completing_.erase(id);
}

void CaseQueue::remove_images(const std::string& id) {
  std::error_code ec;
  const fs::path aside = case_dir(id) / ".removing-series";
  fs::rename(series_dir(id), aside, ec);
  if (!ec) fs::remove_all(aside, ec);
}

std::vector<CaseRecord> list_cases(const fs::path& queue_folder) {
  std::vector<CaseRecord> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(queue_folder / "cases", ec)) {
    const std::string name = entry.path().filename().string();
    if (is_temporary(name) || !entry.is_directory(ec)) continue;
    CaseRecord r;
    try {
      r = read_case_record(entry.path() / kRecordName);
    } catch (const Error& e) {
      r.state = CaseState::kFailed;
      r.message = core::one_line(e);
    }
    r.id = name;
    out.push_back(r);
  }
  if (ec) throw IoError("cannot list queue '" + (queue_folder / "cases").string() + "': " + ec.message());
  std::sort(out.begin(), out.end(), [](const CaseRecord& a, const CaseRecord& b) { return a.id < b.id; });
  return out;
}

std::string hand_over_series(const fs::path& queue_folder, CaseRecord record, const fs::path& series_folder) {
  const fs::path inbox = queue_folder / "inbox";
  std::error_code ec;
  fs::create_directories(inbox, ec);
  if (ec) throw IoError("cannot create '" + inbox.string() + "': " + ec.message());
  const double now = unix_now();
  const std::string base = case_id_for(record.series_uid, now);
  std::string id = base;
  for (int k = 2; fs::exists(inbox / id, ec) || fs::exists(queue_folder / "cases" / id, ec); ++k) {
    id = base + "-" + std::to_string(k);
  }
  record.id = id;
  record.state = CaseState::kReceived;
  record.complete = true;
  if (record.received_at == 0) record.received_at = now;
  count_instances(series_folder, record);
  // Built under a dot name inside inbox/ (which the node ignores), then
  // renamed into place.
  const fs::path building = inbox / (".handover-" + id);
  fs::create_directories(building, ec);
  if (ec) throw IoError("cannot create '" + building.string() + "': " + ec.message());
  fs::rename(series_folder, building / "series", ec);
  if (ec) throw IoError("cannot move '" + series_folder.string() + "' into the queue: " + ec.message());
  write_case_record(building / kRecordName, record);
  fs::rename(building, inbox / id, ec);
  if (ec) throw IoError("cannot hand '" + building.string() + "' over to the queue: " + ec.message());
  return id;
}

}  // namespace medseg::pipeline::pacs
