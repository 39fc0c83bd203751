#pragma once
// Internal to pipeline/io: running third-party code that may kill the
// process (Debian's GDCM is built with assert() on: a corrupted DICOM file
// can end in SIGABRT) in a forked child, so that its death becomes an error
// of the one input instead of the end of the caller (a batch of cases, the
// GUI). The child sends its result through a pipe; its stderr (an assert's
// message) is collected for the error message and the debug log.
#include <cstdint>
#include <functional>
#include <string>

namespace medseg::pipeline::child_process {

/// How a child ended.
struct Outcome {
  /// Killed by a signal (abort, segmentation fault) or exited non-zero
  /// without sending a complete result.
  bool crashed = false;
  /// The signal that ended it (0 when it exited).
  int signal = 0;
  /// What the child wrote to stderr (an assert's message), at most 64 KiB.
  std::string stderr_text;
  /// It had not finished within the time allowed and was killed (SIGKILL;
  /// `crashed` is then true as well, unless its result had arrived whole).
  bool timed_out = false;
};

/// The last line of `stderr_text` that says what failed (an assertion),
/// else its last non-empty line; "" when there is none.
std::string crash_line(const std::string& stderr_text);

/// Forks. The child runs `work(fd)`, which writes its result to the pipe
/// `fd` and must report its own errors through it too (an exception
/// escaping `work` counts as a crash), then ends with _exit without running
/// any destructor or atexit handler of the parent's state. The parent runs
/// `receive(fd)` on the other end of the pipe meanwhile; it must read until
/// it has the whole result. An exception from `receive` is rethrown unless
/// the child crashed (then a truncated result is expected, and the outcome
/// says so).
///
/// `timeout_seconds` (> 0; infinity for none) bounds the child's whole life:
/// when it has neither sent its result nor ended by then (a decoder stuck in
/// a loop, a file system that never answers), it is killed with SIGKILL and
/// the outcome says `timed_out`. The caller never waits longer than that
/// (plus the moment a killed process takes to end).
Outcome run(const std::function<void(int fd)>& work, const std::function<void(int fd)>& receive,
            double timeout_seconds);

/// Test hook: inside a child, when the environment variable
/// MEDSEG_TEST_HANG_ON_FILE names the file name of `file`, sleeps for ever
/// (a decoder that hangs on that file; docs/reliability.md). Does nothing
/// in the parent, or when the variable is unset (always in production).
void test_hang_on_file(const std::string& file);

/// Pipe I/O for the two sides: whole buffers or an exception.
void write_all(int fd, const void* data, std::size_t bytes);
void read_all(int fd, void* data, std::size_t bytes);
void write_string(int fd, const std::string& s);
std::string read_string(int fd);
template <typename T>
void write_value(int fd, const T& value) {
  write_all(fd, &value, sizeof(T));
}
template <typename T>
T read_value(int fd) {
  T value;
  read_all(fd, &value, sizeof(T));
  return value;
}

/// True inside a child run() started: nested readers do not fork again.
bool in_child();

}  // namespace medseg::pipeline::child_process
