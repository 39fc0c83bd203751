#include "pipeline/pacs/case_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "core/error.h"
#include "pipeline/pacs/case_record.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

CaseLog::CaseLog(fs::path file) : file_(std::move(file)) {
  std::error_code ec;
  if (file_.has_parent_path()) fs::create_directories(file_.parent_path(), ec);
  fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError("cannot open log '" + file_.string() + "': " + std::strerror(errno));
}

CaseLog::~CaseLog() {
  if (fd_ >= 0) ::close(fd_);
}

void CaseLog::set_echo(std::function<void(const std::string&)> echo) {
  const std::lock_guard<std::mutex> lock(mutex_);
  echo_ = std::move(echo);
}

void CaseLog::write(const std::string& event, const LogFields& fields) {
  nlohmann::ordered_json j;
  j["time"] = iso_time(unix_now());
  j["event"] = event;
  std::string human = event;
  for (const auto& f : fields) {
    std::visit([&](const auto& v) { j[f.key] = v; }, f.value);
    human += " " + f.key + "=" + j[f.key].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  // Invalid UTF-8 from a remote (an AE title, a description) is replaced
  // rather than refused: the line is still written.
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::lock_guard<std::mutex> lock(mutex_);
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!reported_) std::cerr << "medseg: error: cannot write log '" << file_.string() << "': " << std::strerror(errno)
                                << "\n";
      reported_ = true;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (echo_) echo_(j["time"].get<std::string>() + " " + human);
}

}  // namespace medseg::pipeline::pacs
