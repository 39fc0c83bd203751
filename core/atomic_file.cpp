#include "core/atomic_file.h"

#include <fcntl.h>  // AT_FDCWD
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>  // renameat2
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/error.h"

namespace medseg::core {
namespace fs = std::filesystem;
namespace {

/// `path` without a trailing separator ("out/bundle/" -> "out/bundle") and
/// with a parent, so that a sibling can be formed.
fs::path normalized(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  if (!p.has_parent_path()) p = fs::path(".") / p;
  return p;
}

void replace_directory(const fs::path& tmp, const fs::path& target, const TestWritePause& pause) {
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(tmp, target);
    return;
  }
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    pause.at("swapped", tmp);
    fs::remove_all(tmp, ec);  // now holds the old folder
    return;
  }
#endif
  const fs::path aside = temporary_sibling(target, {}).concat(".old");
  fs::rename(target, aside);
  try {
    fs::rename(tmp, target);
  } catch (...) {
    fs::rename(aside, target, ec);
    throw;
  }
  pause.at("swapped", aside);
  fs::remove_all(aside, ec);
}

/// The process id in a temporary's name ".NAME.partial-PID-N[…]", or -1.
long temporary_pid(const std::string& name) {
  if (name.size() < 2 || name[0] != '.') return -1;
  const std::size_t at = name.rfind(".partial-");
  if (at == std::string::npos || at == 0) return -1;
  std::size_t i = at + 9, digits = 0;
  long pid = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 10; ++i, ++digits) {
    pid = pid * 10 + (name[i] - '0');
  }
  if (digits == 0 || i + 1 >= name.size() || name[i] != '-' || name[i + 1] < '0' || name[i + 1] > '9') return -1;
  return pid;
}

struct PauseRequest {
  std::string name;
  long occurrence = 0;  ///< 0: every write
  std::string stage;    ///< empty: every stage
  double seconds = 30.0;
};

/// MEDSEG_TEST_PAUSE_WRITE, parsed once; empty name when unset.
const PauseRequest& pause_request() {
  static const PauseRequest request = [] {
    PauseRequest r;
    const char* value = std::getenv("MEDSEG_TEST_PAUSE_WRITE");
    if (!value || !*value) return r;
    std::string text = value;
    if (const auto colon = text.find(':'); colon != std::string::npos) {
      r.stage = text.substr(colon + 1);
      text.resize(colon);
    }
    if (const auto at = text.find('@'); at != std::string::npos) {
      r.occurrence = std::strtol(text.c_str() + at + 1, nullptr, 10);
      text.resize(at);
    }
    r.name = text;
    if (const char* s = std::getenv("MEDSEG_TEST_PAUSE_SECONDS")) r.seconds = std::strtod(s, nullptr);
    return r;
  }();
  return request;
}

}  // namespace

TestWritePause::TestWritePause(const fs::path& target) : target_(target) {
  const PauseRequest& request = pause_request();
  if (request.name.empty()) return;
  const std::string name = normalized(target).filename().string();
  // "*SUFFIX" matches every name ending so ("*.nii.gz": any label map).
  const bool match = request.name[0] == '*'
                         ? name.size() >= request.name.size() - 1 &&
                               name.compare(name.size() - (request.name.size() - 1), std::string::npos,
                                            request.name, 1) == 0
                         : name == request.name;
  if (!match) return;
  static std::mutex mutex;
  static long count = 0;
  const std::lock_guard<std::mutex> lock(mutex);
  ++count;
  active_ = request.occurrence == 0 || count == request.occurrence;
}

void TestWritePause::at(std::string_view stage, const fs::path& temporary) const {
  if (!active_) return;
  const PauseRequest& request = pause_request();
  if (!request.stage.empty() && request.stage != stage) return;
  const std::string line = "medseg: test hook: paused at " + std::string(stage) + " of '" + target_.string() +
                           "' (temporary '" + temporary.string() + "')\n";
  [[maybe_unused]] const auto written = ::write(2, line.data(), line.size());
  std::this_thread::sleep_for(std::chrono::duration<double>(request.seconds));
}

void fail_to_write(const fs::path& target, const std::string& reason) {
  throw IoError("cannot write '" + target.string() + "': " + reason);
}

fs::path temporary_sibling(const fs::path& target, std::string_view keep_extension) {
  static std::atomic<unsigned> counter{0};
  const fs::path t = normalized(target);
  std::string name = t.filename().string();
  const std::string ext(keep_extension);
  if (!ext.empty() && name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    name.resize(name.size() - ext.size());
  }
  return t.parent_path() /
         ("." + name + ".partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext);
}

namespace {

void write_file_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write,
                           std::string_view keep_extension, const TestWritePause& pause) {
  const fs::path temp = temporary_sibling(target, keep_extension);
  std::error_code ec;
  try {
    write(temp);
  } catch (...) {
    fs::remove(temp, ec);
    throw;
  }
  pause.at("full", temp);
  fs::rename(temp, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    fail_to_write(target, "could not move the finished file into place: " + reason);
  }
}

}  // namespace

void write_file_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write,
                           std::string_view keep_extension) {
  write_file_atomically(target, write, keep_extension, TestWritePause(target));
}

void write_text_file_atomically(const fs::path& target, std::string_view text) {
  const TestWritePause pause(target);
  write_file_atomically(
      target,
      [&](const fs::path& temp) {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        const std::size_t half = text.size() / 2;
        out.write(text.data(), static_cast<std::streamsize>(half));
        out.flush();
        pause.at("half", temp);
        out.write(text.data() + half, static_cast<std::streamsize>(text.size() - half));
        out.close();
        if (!out) fail_to_write(target, "disk full or not writable");
      },
      {}, pause);
}

void write_folder_atomically(const fs::path& target, const std::function<void(const fs::path&)>& fill) {
  const fs::path final_path = normalized(target);
  const fs::path tmp = temporary_sibling(final_path);
  const TestWritePause pause(final_path);
  std::error_code ec;
  try {
    fs::create_directories(final_path.parent_path());
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    fill(tmp);
    pause.at("filled", tmp);
    replace_directory(tmp, final_path, pause);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail_to_write(target, e.code().message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

int remove_stale_temporaries(const fs::path& folder) {
  int removed = 0;
  std::error_code ec;
  fs::directory_iterator it(folder, ec), end;
  std::vector<fs::path> stale;
  for (; !ec && it != end; it.increment(ec)) {
    const long pid = temporary_pid(it->path().filename().string());
    if (pid <= 0 || pid == static_cast<long>(::getpid())) continue;
    // ESRCH: no such process. EPERM means it runs (as another user): kept.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    stale.push_back(it->path());
  }
  for (const auto& p : stale) {
    std::error_code e;
    if (fs::remove_all(p, e) > 0 && !e) ++removed;
  }
  return removed;
}

}  // namespace medseg::core
