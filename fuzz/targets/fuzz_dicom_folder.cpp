// DICOM listing and reading with the isolation on, as medseg runs them:
// list_dicom_series and read_volume on a folder (and, for a one-file input,
// read_volume on the file). GDCM, and ITK's GDCM IO, run in a forked child
// (pipeline/io/detail/child_process), so each execution forks one to three
// times: slow (tens of executions per second), but it is the code path a user
// has, and what is checked is that nothing a file holds takes the calling
// process down or escapes as anything but a medseg::Error.
//
// GDCM is not fuzzed in-process on purpose: Debian builds it with assert()
// on, and it aborts on most truncations of a valid file (191 of 272 cuts of
// pydicom's CT_small.dcm) -- known, outside our code, and exactly what the
// child process is there to absorb. A sanitizer report from our own code in
// the child (slice sorting and checks, the result sent through the pipe) is
// written to the fuzzer's stderr (fuzz_common.h) and counted by
// scripts/fuzz.sh; the child's death itself is, by design, an error here.
//
// The DICOM timeout (--dicom-timeout, 600 s by default) is set far below
// libFuzzer's per-input timeout (scripts/fuzz.sh: 30 s): an input makes up
// to five child runs, each of which may, after a timeout, be retried file by
// file. With the default, a file that hangs GDCM showed up as a libFuzzer
// timeout of the whole target, a hang medseg itself would have stopped (after
// 600 s). With MEDSEG_FUZZ_DICOM_TIMEOUT seconds (default 3) the child is
// killed and the read is a medseg error, as a user sees it; a timeout that
// libFuzzer still reports is a hang outside the child, in medseg's own code.
// Each input that the child stopped this way is counted: the line
// "medseg-fuzz: DICOM child stopped: ..." goes to the fuzzer's log, and with
// MEDSEG_FUZZ_ISOLATED_DIR set the first few such inputs are kept there.
//
// libFuzzer's own handlers are inherited by the forked child: its SIGABRT
// handler took every GDCM assert() in the child for a crash of the target and
// wrote a crash-* file (31 in a 10-minute run), and its malloc limit wrote
// oom-* for a child's large allocation (21), while the fuzzed process read on
// and gave the documented error. In the child, SIGABRT goes back to its
// default (the child dies of it, as without the fuzzer); scripts/fuzz.sh
// raises -malloc_limit_mb for this target, leaving -rss_limit_mb (watched in
// the fuzzed process only) as the memory bound of medseg's own code.
//
// Input: one or more files, separated by the line kSeparator (a seed is a
// whole series of a few tiny slices).
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "pipeline/io/read_limits.h"
#include "pipeline/io/volume_reader.h"

namespace {
constexpr std::string_view kSeparator = "\n--medseg-fuzz-next-file--\n";
constexpr std::size_t kMaxFiles = 4;
constexpr int kKeepIsolated = 20;

// Runs one read; an error saying the child was stopped after the DICOM
// timeout is logged (and the input kept, see above) before run_one treats it
// as the normal error it is.
template <typename Read>
void read_and_note_hang(const std::uint8_t* data, std::size_t size, Read&& read) {
  medseg::fuzz::run_one([&] {
    try {
      read();
    } catch (const medseg::Error& e) {
      const std::string_view what = e.what();
      if (what.find("hangs the DICOM decoder") != std::string_view::npos ||
          what.find("hang the DICOM decoder") != std::string_view::npos ||
          what.find("did not finish within") != std::string_view::npos) {
        static int kept = 0;
        const std::string line = "medseg-fuzz: DICOM child stopped: " + std::string(what.substr(0, 300)) + "\n";
        (void)!::write(medseg::fuzz::original_stderr(), line.data(), line.size());
        const char* dir = std::getenv("MEDSEG_FUZZ_ISOLATED_DIR");
        if (dir != nullptr && *dir != '\0' && kept < kKeepIsolated) {
          std::error_code ec;
          std::filesystem::create_directories(dir, ec);
          medseg::fuzz::write_file(std::filesystem::path(dir) / ("isolated-hang-" + std::to_string(::getpid()) + "-" +
                                                                 std::to_string(kept++)),
                                   data, size);
        }
      }
      throw;
    }
  });
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medseg::pipeline::set_max_voxels(std::uint64_t{1} << 22);  // see fuzz_nifti.cpp
  ::pthread_atfork(nullptr, nullptr, [] { std::signal(SIGABRT, SIG_DFL); });
  const char* timeout = std::getenv("MEDSEG_FUZZ_DICOM_TIMEOUT");
  medseg::pipeline::set_dicom_timeout_seconds(timeout != nullptr && *timeout != '\0' ? std::atof(timeout) : 3.0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  static const fs::path folder = medseg::fuzz::scratch() / "series";
  std::error_code ec;
  fs::remove_all(folder, ec);
  fs::create_directories(folder);

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<fs::path> files;
  std::size_t begin = 0;
  while (files.size() < kMaxFiles) {
    const std::size_t end = input.find(kSeparator, begin);
    const std::string_view part = input.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    const fs::path file = folder / ("slice" + std::to_string(files.size()) + ".dcm");
    medseg::fuzz::write_file(file, reinterpret_cast<const std::uint8_t*>(part.data()), part.size());
    files.push_back(file);
    if (end == std::string_view::npos) break;
    begin = end + kSeparator.size();
  }

  read_and_note_hang(data, size, [&] { medseg::pipeline::list_dicom_series(folder); });
  read_and_note_hang(data, size, [&] { medseg::pipeline::read_volume(folder); });
  if (files.size() == 1) read_and_note_hang(data, size, [&] { medseg::pipeline::read_volume(files.front()); });
  return 0;
}
