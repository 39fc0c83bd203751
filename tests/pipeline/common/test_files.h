#pragma once
// Shared helpers for pipeline tests: where real data lives, temporary
// folders, and an independent NIfTI-1 writer (raw header bytes, no ITK).
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/temp_dir.h"

namespace medseg::test {
namespace fs = std::filesystem;

inline fs::path source_dir() { return MEDSEG_SOURCE_DIR; }
inline fs::path samples_dir() { return source_dir() / "data_samples"; }
inline fs::path pydicom_dir() {
  return "/usr/lib/python3/dist-packages/pydicom/data/test_files";
}
inline fs::path nibabel_data_dir() { return "/usr/lib/python3/dist-packages/nibabel/tests/data"; }

/// Fails (and ends) the current test when a data file from a Debian package
/// that scripts/setup.sh installs is absent: a missing package is a broken
/// setup, never a reason to skip.
#define MEDSEG_REQUIRE_FILE(path)                                                              \
  do {                                                                                         \
    if (!std::filesystem::exists(path)) {                                                      \
      GTEST_FAIL() << "missing " << (path).string()                                            \
                   << " (a file of a package scripts/setup.sh installs: run scripts/setup.sh)"; \
    }                                                                                          \
  } while (0)

inline void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

/// Writes an uncompressed NIfTI-1 header (datatype `datatype`, `bitpix` bits
/// per voxel) followed by `voxels`, built byte by byte from the NIfTI-1
/// specification. `srow` (RAS, 3x4 row-major) sets sform_code 1 when given.
inline void write_nifti_raw(const fs::path& path, const std::vector<std::int16_t>& dims,
                            const std::vector<float>& pixdim, std::int16_t datatype, std::int16_t bitpix,
                            const std::string& voxels, const std::vector<float>& srow = {}) {
  std::vector<char> header(352, 0);
  const auto put = [&](std::size_t offset, const auto& value) {
    std::memcpy(header.data() + offset, &value, sizeof(value));
  };
  put(0, std::int32_t{348});
  put(40, static_cast<std::int16_t>(dims.size()));
  for (std::size_t i = 0; i < 7; ++i) {
    put(42 + 2 * i, static_cast<std::int16_t>(i < dims.size() ? dims[i] : 1));
  }
  put(70, datatype);
  put(72, bitpix);
  put(76, 1.0f);              // pixdim[0] = qfac
  for (std::size_t i = 0; i < 7; ++i) put(80 + 4 * i, i < pixdim.size() ? pixdim[i] : 1.0f);
  put(108, 352.0f);  // vox_offset
  put(112, 1.0f);    // scl_slope
  if (!srow.empty()) {
    put(254, std::int16_t{1});  // sform_code
    for (std::size_t i = 0; i < 12; ++i) put(280 + 4 * i, srow[i]);
  }
  std::memcpy(header.data() + 344, "n+1\0", 4);
  std::ofstream out(path, std::ios::binary);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(voxels.data(), static_cast<std::streamsize>(voxels.size()));
}

/// An int16 NIfTI-1 file (see write_nifti_raw) of voxels 0, 1, 2, ...
inline void write_nifti_int16(const fs::path& path, const std::vector<std::int16_t>& dims,
                              const std::vector<float>& pixdim,
                              const std::vector<float>& srow = {}) {
  std::size_t voxels = 1;
  for (auto d : dims) voxels *= static_cast<std::size_t>(d);
  std::vector<std::int16_t> data(voxels);
  for (std::size_t i = 0; i < voxels; ++i) data[i] = static_cast<std::int16_t>(i % 30000);
  write_nifti_raw(path, dims, pixdim, /*datatype int16*/ 4, 16,
                  std::string(reinterpret_cast<const char*>(data.data()), voxels * sizeof(std::int16_t)), srow);
}

/// A float32 NIfTI-1 file (see write_nifti_raw) of 1 mm voxels holding
/// `values` (i fastest); dims.size() values must multiply to values.size().
inline void write_nifti_float32(const fs::path& path, const std::vector<std::int16_t>& dims,
                                const std::vector<float>& values) {
  write_nifti_raw(path, dims, std::vector<float>(dims.size(), 1.0f), /*datatype float32*/ 16, 32,
                  std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

}  // namespace medseg::test
