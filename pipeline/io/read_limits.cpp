#include "pipeline/io/read_limits.h"

#include <atomic>
#include <string>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

std::atomic<std::uint64_t> limit{kDefaultMaxVoxels};
std::atomic<double> dicom_timeout{kDefaultDicomTimeoutSeconds};

}  // namespace

std::uint64_t max_voxels() { return limit.load(); }

void set_max_voxels(std::uint64_t voxels) {
  if (voxels < 1) throw ConfigError("the voxel limit must be at least 1, got 0");
  limit.store(voxels);
}

double dicom_timeout_seconds() { return dicom_timeout.load(); }

void set_dicom_timeout_seconds(double seconds) {
  if (!(seconds > 0.0)) {
    throw ConfigError("the DICOM read timeout must be more than 0 seconds, got " + std::to_string(seconds));
  }
  dicom_timeout.store(seconds);
}

void check_voxel_count(const std::filesystem::path& path, const std::vector<std::uint64_t>& sizes) {
  std::uint64_t product = 1;
  bool overflow = false;
  std::string shape;
  for (const std::uint64_t s : sizes) {
    shape += (shape.empty() ? "" : "x") + std::to_string(s);
    if (!overflow && __builtin_mul_overflow(product, s, &product)) overflow = true;
  }
  const std::uint64_t max = max_voxels();
  if (!overflow && product <= max) return;
  const std::string count = overflow ? "more than 2^64" : std::to_string(product);
  throw IoError("cannot read '" + path.string() + "': the header claims " + shape + " = " + count +
                " voxels, more than the limit of " + std::to_string(max) + " (raise it with --max-voxels N)");
}

}  // namespace medseg::pipeline
