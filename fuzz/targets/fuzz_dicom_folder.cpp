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
// Input: one or more files, separated by the line kSeparator (a seed is a
// whole series of a few tiny slices).
#include <algorithm>
#include <cstddef>
#include <cstdint>
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
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medseg::pipeline::set_max_voxels(std::uint64_t{1} << 22);  // see fuzz_nifti.cpp
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

  medseg::fuzz::run_one([&] { medseg::pipeline::list_dicom_series(folder); });
  medseg::fuzz::run_one([&] { medseg::pipeline::read_volume(folder); });
  if (files.size() == 1) medseg::fuzz::run_one([&] { medseg::pipeline::read_volume(files.front()); });
  return 0;
}
