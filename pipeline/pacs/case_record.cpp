#include "pipeline/pacs/case_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/enum_names.h"
#include "core/error.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

constexpr core::EnumNames<CaseState, 7> kStates{"case state",
                                                {{{CaseState::kReceived, "received"},
                                                  {CaseState::kQueued, "queued"},
                                                  {CaseState::kSegmented, "segmented"},
                                                  {CaseState::kSent, "sent"},
                                                  {CaseState::kFailed, "failed"},
                                                  {CaseState::kUnmatched, "unmatched"},
                                                  {CaseState::kEmpty, "empty"}}}};

void write_all(int fd, const std::string& text, const fs::path& target) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      core::fail_to_write(target, std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

void fsync_folder(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string to_string(CaseState state) { return kStates.name(state); }
CaseState parse_case_state(const std::string& name) { return kStates.parse(name); }

bool is_terminal(CaseState state) {
  return state == CaseState::kSent || state == CaseState::kFailed || state == CaseState::kUnmatched ||
         state == CaseState::kEmpty;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso_time(double unix_seconds) {
  if (unix_seconds <= 0) return "";
  const double whole = std::floor(unix_seconds);
  const auto t = static_cast<std::time_t>(whole);
  int ms = static_cast<int>(std::lround((unix_seconds - whole) * 1000.0));
  if (ms > 999) ms = 999;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[48];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, ms);
  return out;
}

std::string case_record_json(const CaseRecord& r) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["state"] = to_string(r.state);
  j["study_uid"] = r.study_uid;
  j["series_uid"] = r.series_uid;
  j["accession_number"] = r.accession_number;
  j["modality"] = r.modality;
  j["body_part"] = r.body_part;
  j["series_description"] = r.series_description;
  j["source"] = r.source;
  j["complete"] = r.complete;
  j["instances"] = r.instances;
  j["rule"] = r.rule;
  j["received_at"] = r.received_at;
  j["last_instance_at"] = r.last_instance_at;
  j["queued_at"] = r.queued_at;
  j["segmented_at"] = r.segmented_at;
  j["sent_at"] = r.sent_at;
  j["attempts"] = r.attempts;
  j["next_attempt_at"] = r.next_attempt_at;
  j["seg_file"] = r.seg_file;
  j["seg_sop_instance_uid"] = r.seg_sop_instance_uid;
  j["message"] = r.message;
  return j.dump(2) + "\n";
}

CaseRecord parse_case_record(const std::string& text, const fs::path& file) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    CaseRecord r;
    r.id = j.at("id").get<std::string>();
    r.state = parse_case_state(j.at("state").get<std::string>());
    r.study_uid = j.value("study_uid", "");
    r.series_uid = j.at("series_uid").get<std::string>();
    r.accession_number = j.value("accession_number", "");
    r.modality = j.value("modality", "");
    r.body_part = j.value("body_part", "");
    r.series_description = j.value("series_description", "");
    r.source = j.value("source", "");
    r.complete = j.value("complete", false);
    r.instances = j.value("instances", std::int64_t{0});
    r.rule = j.value("rule", "");
    r.received_at = j.value("received_at", 0.0);
    r.last_instance_at = j.value("last_instance_at", 0.0);
    r.queued_at = j.value("queued_at", 0.0);
    r.segmented_at = j.value("segmented_at", 0.0);
    r.sent_at = j.value("sent_at", 0.0);
    r.attempts = j.value("attempts", 0);
    r.next_attempt_at = j.value("next_attempt_at", 0.0);
    r.seg_file = j.value("seg_file", "");
    r.seg_sop_instance_uid = j.value("seg_sop_instance_uid", "");
    r.message = j.value("message", "");
    return r;
  } catch (const std::exception& e) {
    throw IoError("cannot read case record '" + file.string() + "': " + e.what());
  }
}

CaseRecord read_case_record(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot read case record '" + file.string() + "': " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return parse_case_record(s.str(), file);
}

void write_case_record(const fs::path& file, const CaseRecord& record) {
  const std::string text = case_record_json(record);
  core::write_file_atomically(file, [&](const fs::path& temp) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) core::fail_to_write(file, std::strerror(errno));
    try {
      write_all(fd, text, file);
      if (::fsync(fd) != 0) core::fail_to_write(file, std::strerror(errno));
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  });
  fsync_folder(file.parent_path());
}

}  // namespace medseg::pipeline::pacs
