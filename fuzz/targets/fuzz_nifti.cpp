// NIfTI-1/2 through read_volume: medseg's own header checks and one-pass
// voxel reader (pipeline/io/nifti_reader), the libdeflate .nii.gz path
// (gzip_file) with its decompression-bomb bound, and ITK's NiftiImageIO for
// the geometry. An input starting with the gzip magic is written as
// .nii.gz, anything else as .nii.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_common.h"
#include "pipeline/io/read_limits.h"
#include "pipeline/io/volume_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // 4 Mi voxels (16 MiB as float32): the limit check is fuzzed too, and no
  // header can make a read allocate more than the fuzzer's memory limit.
  medseg::pipeline::set_max_voxels(std::uint64_t{1} << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto nii = medseg::fuzz::scratch() / "input.nii";
  static const auto gz = medseg::fuzz::scratch() / "input.nii.gz";
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const auto& path = gzip ? gz : nii;
  medseg::fuzz::write_file(path, data, size);
  medseg::fuzz::run_one([&] {
    medseg::pipeline::read_volume(path);
    // label maps go through the same reader, then a value check
    medseg::pipeline::read_label_map(path);
  });
  return 0;
}
