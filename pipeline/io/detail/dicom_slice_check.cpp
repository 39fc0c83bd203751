#include "pipeline/io/detail/dicom_slice_check.h"

#include <itkGDCMImageIO.h>
#include <itkMetaDataObject.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "pipeline/io/detail/itk_messages.h"

namespace medseg::pipeline {
namespace {

using Vec3 = std::array<double, 3>;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
  throw IoError("cannot read '" + path.string() + "': " + reason);
}

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, '\\')) out.push_back(std::atof(item.c_str()));
  return out;
}

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

struct SliceHeader {
  Vec3 position{};
  std::vector<double> orientation;
  std::array<unsigned, 2> size{};  // columns, rows
};

double norm(const Vec3& v) { return std::sqrt(dot(v, v)); }

SliceHeader read_header(const std::filesystem::path& series_path, const std::string& file) {
  auto io = itk::GDCMImageIO::New();
  io->SetFileName(file);
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    fail(series_path, "slice '" + file + "': " + itk_messages::one_line(e));
  }
  std::string ipp, iop;
  itk::ExposeMetaData<std::string>(io->GetMetaDataDictionary(), "0020|0032", ipp);
  itk::ExposeMetaData<std::string>(io->GetMetaDataDictionary(), "0020|0037", iop);
  const auto p = numbers(ipp);
  SliceHeader h;
  h.orientation = numbers(iop);
  if (p.size() != 3 || h.orientation.size() != 6) {
    fail(series_path, "slice '" + file + "' lacks ImagePositionPatient/ImageOrientationPatient");
  }
  h.position = {p[0], p[1], p[2]};
  h.size = {static_cast<unsigned>(io->GetDimensions(0)), static_cast<unsigned>(io->GetDimensions(1))};
  const bool finite = std::all_of(p.begin(), p.end(), [](double v) { return std::isfinite(v); }) &&
                      std::all_of(h.orientation.begin(), h.orientation.end(), [](double v) { return std::isfinite(v); });
  if (!finite) fail(series_path, "slice '" + file + "' has a non-finite ImagePositionPatient/ImageOrientationPatient");
  // Refused rather than guessed: ITK would build some direction matrix anyway.
  const Vec3 row{h.orientation[0], h.orientation[1], h.orientation[2]};
  const Vec3 col{h.orientation[3], h.orientation[4], h.orientation[5]};
  const Vec3 normal{row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                    row[0] * col[1] - row[1] * col[0]};
  if (norm(row) < 1e-3 || norm(col) < 1e-3 || norm(normal) < 1e-3 * norm(row) * norm(col)) {
    fail(series_path, "slice '" + file + "' has a degenerate ImageOrientationPatient (zero or parallel axes)");
  }
  return h;
}

}  // namespace

std::vector<std::string> sort_and_check_dicom_slices(const std::filesystem::path& series_path,
                                                     const std::vector<std::string>& files) {
  std::vector<SliceHeader> slices;
  for (const auto& f : files) slices.push_back(read_header(series_path, f));
  const auto& o = slices.front().orientation;
  for (std::size_t k = 0; k < slices.size(); ++k) {
    // Before any slice is decoded: a slice claiming another (huge) size
    // would be allocated by GDCM before the mismatch showed.
    if (slices[k].size != slices.front().size) {
      fail(series_path, "slice '" + files[k] + "' is " + std::to_string(slices[k].size[0]) + "x" +
                            std::to_string(slices[k].size[1]) + ", not " + std::to_string(slices.front().size[0]) +
                            "x" + std::to_string(slices.front().size[1]) + " like '" + files.front() + "'");
    }
  }
  for (const auto& s : slices) {
    for (int i = 0; i < 6; ++i) {
      if (std::abs(s.orientation[i] - o[i]) > 1e-4) {
        fail(series_path, "slices have different orientations (ImageOrientationPatient)");
      }
    }
  }
  const Vec3 row{o[0], o[1], o[2]}, col{o[3], o[4], o[5]};
  const Vec3 normal{row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                    row[0] * col[1] - row[1] * col[0]};
  // Sort by position along the normal ourselves: GDCM falls back to file
  // name order when positions repeat, which would hide duplicates.
  std::vector<std::size_t> order(slices.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return dot(slices[a].position, normal) < dot(slices[b].position, normal);
  });
  std::vector<SliceHeader> sorted;
  std::vector<std::string> sorted_files;
  for (std::size_t k : order) {
    sorted.push_back(slices[k]);
    sorted_files.push_back(files[k]);
  }
  slices = std::move(sorted);
  std::vector<double> gaps;
  double worst_tilt_deg = 0.0;
  for (std::size_t k = 1; k < slices.size(); ++k) {
    Vec3 step{};
    for (int d = 0; d < 3; ++d) step[d] = slices[k].position[d] - slices[k - 1].position[d];
    const double along = dot(step, normal);
    double lateral2 = 0.0;
    for (int d = 0; d < 3; ++d) lateral2 += std::pow(step[d] - along * normal[d], 2);
    gaps.push_back(std::abs(along));
    if (std::abs(along) > 1e-6) {
      worst_tilt_deg = std::max(worst_tilt_deg, std::atan2(std::sqrt(lateral2), std::abs(along)) * 180.0 / M_PI);
    }
  }
  const double smallest = *std::min_element(gaps.begin(), gaps.end());
  const double largest = *std::max_element(gaps.begin(), gaps.end());
  std::ostringstream msg;
  if (smallest < 1e-3) {
    fail(series_path, "two slices share the same position (duplicate slices)");
  }
  // 1% of the spacing, as 3D Slicer's DICOM scalar volume plugin warns at.
  if (largest - smallest > std::max(0.01 * smallest, 1e-3)) {
    msg << "slice spacing varies from " << smallest << " to " << largest
        << " mm (missing slices or a mixed series)";
    fail(series_path, msg.str());
  }
  if (worst_tilt_deg > 0.5) {
    msg << "slices are sheared by " << worst_tilt_deg
        << " degrees (gantry tilt); resample the series to an orthogonal grid first";
    fail(series_path, msg.str());
  }
  return sorted_files;
}

}  // namespace medseg::pipeline
