#include "app/gui/logic/label_statistics.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/atomic_file.h"
#include "core/csv.h"
#include "core/error.h"
#include "pipeline/eval/metrics.h"

namespace medseg::gui {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_shape(const pipeline::Geometry& g, const at::Tensor& t, const char* what) {
  if (t.dim() != 3 || t.size(0) != g.size[2] || t.size(1) != g.size[1] || t.size(2) != g.size[0]) {
    throw IoError(std::string("label statistics: ") + what + " does not match the scan's grid (expected (D, H, W) = " +
                  std::to_string(g.size[2]) + "x" + std::to_string(g.size[1]) + "x" + std::to_string(g.size[0]) +
                  ")");
  }
}

std::string fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}


}  // namespace

LabelStatistics::LabelStatistics(const pipeline::Geometry& geometry, at::Tensor intensities)
    : geometry_(geometry), intensities_(std::move(intensities)), accumulators_(65536) {
  check_shape(geometry_, intensities_, "the scan");
  intensities_ = intensities_.to(at::kFloat).contiguous();
  scan_data_ = intensities_.data_ptr<float>();
}

void LabelStatistics::set_reference(const at::Tensor& reference) {
  if (!reference.defined()) {
    reference_ = at::Tensor();
    reference_data_ = nullptr;
    return;
  }
  check_shape(geometry_, reference, "the reference label map");
  reference_ = reference.to(at::kShort).contiguous();
  reference_data_ = reference_.data_ptr<std::int16_t>();
}

void LabelStatistics::add(std::int64_t index, std::int16_t label, int sign) {
  Accumulator& a = at(label);
  const double x = scan_data_[index];
  a.count += sign;
  a.sum += sign * x;
  a.sum_squares += sign * x * x;
  if (reference_data_ && reference_data_[index] == label) a.overlap += sign;
}

void LabelStatistics::recompute(const at::Tensor& labels) {
  check_shape(geometry_, labels, "the label map");
  const at::Tensor l = labels.to(at::kShort).contiguous();
  std::fill(accumulators_.begin(), accumulators_.end(), Accumulator{});
  const std::int16_t* lab = l.data_ptr<std::int16_t>();
  const float* x = scan_data_;
  const std::int16_t* ref = reference_data_;
  const std::int64_t n = l.numel();
  // Background is usually most of the volume and its row is never listed:
  // no sums for it.
  for (std::int64_t p = 0; p < n; ++p) {
    const std::int16_t v = lab[p];
    if (ref && ref[p] != 0) {
      Accumulator& r = at(ref[p]);
      ++r.reference_count;
      if (ref[p] == v) ++r.overlap;
    }
    if (v == 0) continue;
    Accumulator& a = at(v);
    const double xv = x[p];
    ++a.count;
    a.sum += xv;
    a.sum_squares += xv * xv;
  }
}

void LabelStatistics::apply(const LabelChange& change, bool undone) {
  change.for_each([&](std::int64_t index, std::int16_t before, std::int16_t after) {
    const std::int16_t from = undone ? after : before;
    const std::int16_t to = undone ? before : after;
    if (from != 0) add(index, from, -1);
    if (to != 0) add(index, to, +1);
  });
}

std::vector<LabelStatisticsRow> LabelStatistics::rows() const {
  const double voxel_ml = geometry_.spacing[0] * geometry_.spacing[1] * geometry_.spacing[2] / 1000.0;
  std::vector<LabelStatisticsRow> out;
  // Ascending int16 order: negative values (bits 0x8000..0xFFFF) first.
  for (int value = -32768; value <= 32767; ++value) {
    if (value == 0) continue;
    const Accumulator& a = accumulators_[static_cast<std::uint16_t>(value)];
    if (a.count == 0 && a.reference_count == 0) continue;
    LabelStatisticsRow row;
    row.label = static_cast<std::int16_t>(value);
    row.voxels = a.count;
    row.volume_ml = static_cast<double>(a.count) * voxel_ml;
    if (a.count > 0) {
      const double n = static_cast<double>(a.count);
      row.mean = a.sum / n;
      // E[x^2] - mean^2 in double: for HU data (|x| < 4e3) the cancellation
      // error stays below 1e-6 HU^2 of variance.
      row.sd = std::sqrt(std::max(0.0, a.sum_squares / n - row.mean * row.mean));
    } else {
      row.mean = row.sd = kNaN;
    }
    row.reference_voxels = a.reference_count;
    row.dice = reference_.defined() ? pipeline::dice_from_counts(a.overlap, a.count, a.reference_count) : kNaN;
    out.push_back(row);
  }
  return out;
}

std::string label_statistics_csv(const std::vector<LabelStatisticsRow>& rows, const std::map<int, std::string>& names,
                                 bool with_reference) {
  std::string csv = "label,name,voxels,volume_ml,mean,sd,reference_voxels,dice\n";
  for (const LabelStatisticsRow& r : rows) {
    const auto name = names.find(r.label);
    csv += std::to_string(r.label) + "," + core::csv_field(name == names.end() ? "" : name->second) + "," +
           std::to_string(r.voxels) + "," + fixed(r.volume_ml, 6) + "," + fixed(r.mean, 3) + "," + fixed(r.sd, 3) +
           "," + (with_reference ? std::to_string(r.reference_voxels) : "") + "," +
           (with_reference ? fixed(r.dice, 6) : "") + "\n";
  }
  return csv;
}

void write_label_statistics_csv(const std::filesystem::path& path, const std::vector<LabelStatisticsRow>& rows,
                                const std::map<int, std::string>& names, bool with_reference) {
  core::write_text_file_atomically(path, label_statistics_csv(rows, names, with_reference));
}

}  // namespace medseg::gui
