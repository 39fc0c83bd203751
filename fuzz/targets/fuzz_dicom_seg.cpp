// DICOM SEG through DCMTK, in the calling process (no isolation: DCMTK
// reports errors instead of asserting): is_dicom_seg, read_dicom_seg_info
// and read_dicom_seg without and with a grid (the placement of frames by
// their positions). This is the DICOM parser medseg runs in-process on
// untrusted files (`medseg info seg.dcm`, evaluation, label maps).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_common.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/read_limits.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medseg::pipeline::set_max_voxels(std::uint64_t{1} << 22);  // see fuzz_nifti.cpp
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = medseg::fuzz::scratch() / "input.dcm";
  medseg::fuzz::write_file(path, data, size);
  if (!medseg::pipeline::is_dicom_seg(path)) return 0;
  medseg::fuzz::run_one([&] { medseg::pipeline::read_dicom_seg_info(path); });
  medseg::fuzz::run_one([&] { medseg::pipeline::read_dicom_seg(path); });
  medseg::fuzz::run_one([&] {
    // The grid of the seeds' series (scripts: fuzz/make_seeds.py): 8x8x3 at
    // 1 x 1 x 2 mm from the origin, identity orientation.
    medseg::pipeline::Geometry grid;
    grid.size = {8, 8, 3};
    grid.spacing = {1.0, 1.0, 2.0};
    medseg::pipeline::read_dicom_seg(path, grid);
  });
  return 0;
}
