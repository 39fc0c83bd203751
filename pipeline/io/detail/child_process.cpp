#include "pipeline/io/detail/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "core/debug_log.h"

namespace medseg::pipeline::child_process {
namespace {

bool inside_child = false;

[[noreturn]] void fail_io(const char* what) {
  throw std::runtime_error(std::string("isolated reader: ") + what + ": " + std::strerror(errno));
}

using Clock = std::chrono::steady_clock;

/// The child the parent's reads of this thread wait for, and until when.
struct Watch {
  pid_t pid = 0;
  Clock::time_point deadline;
  bool timed_out = false;
};
thread_local Watch* watch = nullptr;

/// Kills the watched child because its time is up.
[[noreturn]] void expire() {
  ::kill(watch->pid, SIGKILL);
  watch->timed_out = true;
  throw std::runtime_error("isolated reader: the child did not finish in time");
}

/// In the parent: blocks until `fd` has data (or end of file), at most
/// until the watched child's deadline.
void wait_readable(int fd) {
  if (watch == nullptr) return;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(watch->deadline - Clock::now()).count();
    if (left <= 0) expire();
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (r > 0) return;
    if (r < 0 && errno != EINTR) fail_io("poll");
  }
}

constexpr std::size_t kMaxStderr = 64 * 1024;


struct Fd {
  int fd = -1;
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::string read_back(int fd) {
  std::string text;
  if (::lseek(fd, 0, SEEK_SET) < 0) return text;
  char buffer[4096];
  while (text.size() < kMaxStderr) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

void write_all(int fd, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_io("write");
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void read_all(int fd, void* data, std::size_t bytes) {
  auto* p = static_cast<char*>(data);
  while (bytes > 0) {
    wait_readable(fd);
    const ssize_t n = ::read(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_io("read");
    if (n == 0) throw std::runtime_error("isolated reader: the child ended before its result was complete");
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void write_string(int fd, const std::string& s) {
  write_value<std::uint64_t>(fd, s.size());
  write_all(fd, s.data(), s.size());
}

std::string read_string(int fd) {
  const auto size = read_value<std::uint64_t>(fd);
  if (size > (std::uint64_t{1} << 30)) throw std::runtime_error("isolated reader: implausible string length");
  std::string s(static_cast<std::size_t>(size), '\0');
  read_all(fd, s.data(), s.size());
  return s;
}

bool in_child() { return inside_child; }

void test_hang_on_file(const std::string& file) {
  if (!inside_child) return;
  const char* name = std::getenv("MEDSEG_TEST_HANG_ON_FILE");
  if (name == nullptr || *name == '\0') return;
  const std::size_t slash = file.find_last_of('/');
  if (file.compare(slash == std::string::npos ? 0 : slash + 1, std::string::npos, name) != 0) return;
  for (;;) ::pause();
}

std::string crash_line(const std::string& stderr_text) {
  std::string last, assertion;
  std::size_t begin = 0;
  while (begin < stderr_text.size()) {
    std::size_t end = stderr_text.find('\n', begin);
    if (end == std::string::npos) end = stderr_text.size();
    std::string line = stderr_text.substr(begin, end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) {
      last = line;
      if (line.find("Assertion") != std::string::npos) assertion = line;
    }
    begin = end + 1;
  }
  if (assertion.empty()) return last;
  // "prog: ./Source/.../gdcmFileMetaInformation.cxx:591: <signature>: Assertion `is.good()' failed."
  // becomes "gdcmFileMetaInformation.cxx:591: Assertion `is.good()' failed.": the
  // signature is long and says nothing a user can act on.
  const std::size_t what = assertion.find("Assertion");
  const std::size_t source_start = assertion.find(": ");
  std::string where;
  if (source_start != std::string::npos && source_start < what) {
    const std::size_t source_end = assertion.find(": ", source_start + 2);
    if (source_end != std::string::npos && source_end < what) {
      where = assertion.substr(source_start + 2, source_end - source_start - 2);
      const std::size_t slash = where.rfind('/');
      if (slash != std::string::npos) where = where.substr(slash + 1);
    }
  }
  return where.empty() ? assertion.substr(what) : where + ": " + assertion.substr(what);
}

Outcome run(const std::function<void(int fd)>& work, const std::function<void(int fd)>& receive,
            double timeout_seconds) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_io("pipe");
  Fd read_end{fds[0]}, write_end{fds[1]};
  // An anonymous file for the child's stderr: read back after it ends, so a
  // chatty child never blocks on a full pipe.
  Fd err{::memfd_create("medseg-child-stderr", MFD_CLOEXEC)};
  if (err.fd < 0) fail_io("memfd_create");

  std::cout.flush();  // nothing buffered is written twice
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) fail_io("fork");
  if (pid == 0) {
    inside_child = true;
    ::dup2(err.fd, STDERR_FILENO);
    ::close(read_end.fd);
    int status = 0;
    try {
      work(write_end.fd);
    } catch (const std::exception& e) {
      std::cerr << "child: " << e.what() << std::endl;
      status = 3;
    } catch (...) {
      status = 3;
    }
    std::cerr.flush();
    ::_exit(status);
  }
  write_end.close();
  Watch child_watch;
  child_watch.pid = pid;
  child_watch.deadline =
      std::isfinite(timeout_seconds) && timeout_seconds < 1e9
          ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds))
          : Clock::time_point::max();
  Watch* const outer = watch;
  watch = &child_watch;
  std::exception_ptr receive_error;
  try {
    receive(read_end.fd);
  } catch (...) {
    receive_error = std::current_exception();
  }
  watch = outer;
  read_end.close();  // a child still writing gets EPIPE/SIGPIPE, not a hang
  // Its result is in; it should end now. One that does not (stuck in an
  // exit handler) is killed at the deadline too.
  int status = 0;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, child_watch.timed_out ? 0 : WNOHANG);
    if (r == pid) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      fail_io("waitpid");
    }
    if (Clock::now() >= child_watch.deadline) {
      ::kill(pid, SIGKILL);
      child_watch.timed_out = true;
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
  Outcome outcome;
  outcome.timed_out = child_watch.timed_out;
  outcome.stderr_text = read_back(err.fd);
  if (!outcome.stderr_text.empty()) core::debug_log("isolated reader", outcome.stderr_text);
  if (WIFSIGNALED(status)) {
    outcome.crashed = true;
    outcome.signal = WTERMSIG(status);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    outcome.crashed = true;
  }
  // Killed at the deadline just after it exited by itself: still no result.
  if (outcome.timed_out && receive_error) outcome.crashed = true;
  if (receive_error && !outcome.crashed) std::rethrow_exception(receive_error);
  if (receive_error == nullptr && outcome.crashed) {
    // A complete result and then a death (e.g. in a destructor): the result stands.
    outcome.crashed = false;
  }
  return outcome;
}

}  // namespace medseg::pipeline::child_process
