#pragma once
// What every medseg fuzz target shares: a private scratch folder per process
// (the readers take paths, so an input is written to a file there, the same
// file name every time), the rule that medseg's documented errors are normal
// outcomes while anything else is a crash, and keeping sanitizer reports
// visible while a reader points stderr elsewhere.
#include <sanitizer/common_interface_defs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"

namespace medseg::fuzz {

/// The process's scratch folder, made on first use, removed at exit (a
/// crash leaves it for inspection).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("MEDSEG_FUZZ_TMP");
    std::filesystem::path d = std::filesystem::path(base && *base ? base : "/tmp") /
                              ("medseg-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();  // the scratch disk is full: not a finding, but no use going on
}

/// The stderr libFuzzer started with. The readers point file descriptor 2 at
/// an anonymous file while they run (itk_messages::StderrCapture); sanitizer
/// reports go to this copy instead, so a crash inside a read is still shown.
inline int original_stderr() {
  static const int fd = ::dup(2);
  return fd;
}

inline void keep_reports_visible() {
  static const bool once = [] {
    static long fd = original_stderr();
    __sanitizer_set_report_fd(reinterpret_cast<void*>(fd));
    return true;
  }();
  (void)once;
}

/// Runs `body` on one input. medseg::Error (IoError, ConfigError, ModelError)
/// is the documented answer to a bad input; any other exception is a bug:
/// it is printed to the real stderr and the process aborts, which libFuzzer
/// records as a crash with the input that caused it.
template <typename Body>
void run_one(Body&& body) {
  keep_reports_visible();
  try {
    body();
  } catch (const Error& e) {
    // A bad-input error: the expected outcome. Its message is meant to be
    // one line (the CLI prints only the first); a second line is reported,
    // not fatal, and scripts/fuzz.sh counts these reports.
    const std::string_view what = e.what();
    static const bool verbose = std::getenv("MEDSEG_FUZZ_VERBOSE") != nullptr;
    if (verbose) {  // replaying an input: which error it gave
      const std::string line = "medseg-fuzz: error: " + std::string(what) + "\n";
      (void)!::write(original_stderr(), line.data(), line.size());
    }
    if (what.find('\n') != std::string_view::npos) {
      const std::string line = "medseg-fuzz: multi-line error: " + std::string(what.substr(0, 300)) + "\n";
      (void)!::write(original_stderr(), line.data(), line.size());
    }
  } catch (const std::exception& e) {
    const std::string line = std::string("medseg-fuzz: not a medseg::Error: ") + e.what() + "\n";
    (void)!::write(original_stderr(), line.data(), line.size());
    std::abort();
  } catch (...) {
    const std::string_view line = "medseg-fuzz: a non-std exception escaped\n";
    (void)!::write(original_stderr(), line.data(), line.size());
    std::abort();
  }
}

}  // namespace medseg::fuzz
