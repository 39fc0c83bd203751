// MetaImage (.mha, header and data in one file) through read_volume: ITK's
// MetaImageIO for header and voxels, medseg's voxel-count limit and
// geometry checks around it.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_common.h"
#include "pipeline/io/read_limits.h"
#include "pipeline/io/volume_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medseg::pipeline::set_max_voxels(std::uint64_t{1} << 22);  // see fuzz_nifti.cpp
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = medseg::fuzz::scratch() / "input.mha";
  medseg::fuzz::write_file(path, data, size);
  medseg::fuzz::run_one([&] { medseg::pipeline::read_volume(path); });
  return 0;
}
