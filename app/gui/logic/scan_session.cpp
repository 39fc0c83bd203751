#include "app/gui/logic/scan_session.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace medseg::gui {
namespace {

// The scan as the views and the editor read it: float32, contiguous, with
// the (D, H, W) shape its geometry says.
pipeline::Volume prepared(pipeline::Volume scan) {
  if (!scan.data.defined()) throw IoError("scan session: the scan has no voxel data");
  const auto& s = scan.geometry.size;
  if (scan.data.dim() != 3 || scan.data.size(0) != s[2] || scan.data.size(1) != s[1] || scan.data.size(2) != s[0]) {
    throw IoError("scan session: '" + scan.source_path + "' has data of " + std::to_string(scan.data.dim()) +
                  " dimensions not matching its grid " + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" +
                  std::to_string(s[2]));
  }
  scan.data = scan.data.to(at::kFloat).contiguous();
  return scan;
}

}  // namespace

ScanSession::ScanSession(pipeline::Volume scan, const at::Tensor& labels, ScanSessionOptions options)
    : scan_(prepared(std::move(scan))),
      geometry_(scan_.geometry, options.convention),
      editor_(scan_.geometry, labels, scan_.data),
      statistics_(scan_.geometry, scan_.data),
      label_table_(std::move(options.label_table)) {
  statistics_.recompute(editor_.labels());
  for (int c = 0; c < 3; ++c) crosshair_[c] = scan_.geometry.size[c] / 2;
  stored_window_ = options.stored_window;
  const auto& meta = scan_.metadata;
  if (!stored_window_ && meta.window_center && meta.window_width) {
    stored_window_ = WindowLevel(*meta.window_width, *meta.window_center);
  }
  if (stored_window_) {
    window_ = *stored_window_;
  } else if (scan_.metadata.modality == "CT") {
    window_ = ct_window_preset("soft tissue").window();
  } else {
    window_ = auto_window(scan_.data);
  }
  set_overlay_opacity(options.overlay_opacity);
  add_missing_descriptions();
}

// --- crosshair ---------------------------------------------------------------

void ScanSession::set_crosshair(const std::array<std::int64_t, 3>& voxel) {
  std::array<std::int64_t, 3> clamped{};
  for (int c = 0; c < 3; ++c) clamped[c] = std::clamp<std::int64_t>(voxel[c], 0, scan_.geometry.size[c] - 1);
  if (clamped == crosshair_) return;
  crosshair_ = clamped;
  crosshair_changed.notify();
}

void ScanSession::set_crosshair_from_screen(ViewKind kind, double u, double v) {
  const auto voxel = geometry_.screen_to_voxel(kind, u, v, static_cast<double>(slice(kind)));
  set_crosshair({std::llround(voxel[0]), std::llround(voxel[1]), std::llround(voxel[2])});
}

void ScanSession::step_slice(ViewKind kind, std::int64_t delta) {
  std::array<std::int64_t, 3> next = crosshair_;
  next[geometry_.view(kind).slice_axis] += delta;
  set_crosshair(next);
}

std::array<double, 3> ScanSession::crosshair_mm() const {
  return geometry_.voxel_to_patient({static_cast<double>(crosshair_[0]), static_cast<double>(crosshair_[1]),
                                     static_cast<double>(crosshair_[2])});
}

namespace {
std::int64_t linear_index(const pipeline::Geometry& g, const std::array<std::int64_t, 3>& v) {
  return (v[2] * g.size[1] + v[1]) * g.size[0] + v[0];
}
}  // namespace

float ScanSession::intensity_at_crosshair() const {
  return scan_.data.data_ptr<float>()[linear_index(scan_.geometry, crosshair_)];
}

std::int16_t ScanSession::label_at_crosshair() const {
  return editor_.label_data()[linear_index(scan_.geometry, crosshair_)];
}

// --- display -----------------------------------------------------------------

void ScanSession::set_convention(DisplayConvention convention) {
  if (convention == geometry_.convention()) return;
  geometry_.set_convention(convention);
  display_changed.notify();
}

void ScanSession::set_window(const WindowLevel& window) {
  if (window == window_) return;
  window_ = window;
  window_changed.notify();
}

void ScanSession::apply_preset(const std::string& name) { set_window(ct_window_preset(name).window()); }

void ScanSession::apply_auto_window() { set_window(auto_window(scan_.data)); }

void ScanSession::apply_stored_window() {
  if (!stored_window_) throw ConfigError("the scan has no stored window (DICOM Window Center/Width)");
  set_window(*stored_window_);
}

// --- label table -------------------------------------------------------------

LabelDescription ScanSession::describe(std::int16_t value) const {
  for (const LabelDescription& d : label_table_) {
    if (d.value == value) return d;
  }
  return default_label_description(value);
}

void ScanSession::set_label_description(const LabelDescription& description) {
  auto it = std::find_if(label_table_.begin(), label_table_.end(),
                         [&](const LabelDescription& d) { return d.value == description.value; });
  if (it == label_table_.end()) {
    label_table_.push_back(description);
  } else {
    *it = description;
  }
  label_table_changed.notify();
}

void ScanSession::set_overlay_opacity(double opacity) {
  const double clamped = std::isfinite(opacity) ? std::clamp(opacity, 0.0, 1.0) : overlay_opacity_;
  if (clamped == overlay_opacity_) return;
  overlay_opacity_ = clamped;
  label_table_changed.notify();
}

void ScanSession::add_missing_descriptions() {
  bool added = false;
  for (const LabelStatisticsRow& row : statistics_.rows()) {
    const bool known = std::any_of(label_table_.begin(), label_table_.end(),
                                   [&](const LabelDescription& d) { return d.value == row.label; });
    if (!known) {
      label_table_.push_back(default_label_description(row.label));
      added = true;
    }
  }
  if (added) {
    std::sort(label_table_.begin(), label_table_.end(),
              [](const LabelDescription& a, const LabelDescription& b) { return a.value < b.value; });
    label_table_changed.notify();
  }
}

// --- editing -----------------------------------------------------------------

void ScanSession::begin_stroke(ViewKind kind, const BrushOptions& options) {
  editor_.begin_stroke(options, geometry_.view(kind).slice_axis);
  stroke_view_ = kind;
  stroke_slice_ = slice(kind);
}

void ScanSession::paint_at(double u, double v) {
  if (!stroke_view_) throw std::logic_error("scan session: paint_at outside a stroke");
  const auto voxel = geometry_.screen_to_voxel(*stroke_view_, u, v, static_cast<double>(stroke_slice_));
  if (editor_.paint_at(voxel) > 0) labels_changed.notify();
}

void ScanSession::end_stroke() {
  const LabelChange* change = editor_.end_stroke();
  stroke_view_.reset();
  if (change) after_change(change, /*undone=*/false);
}

void ScanSession::replace_labels(const at::Tensor& labels) {
  const LabelChange* change = editor_.replace_all(labels);
  if (change) {
    labels_changed.notify();
    after_change(change, false);
  }
}

std::int64_t ScanSession::remove_islands(double min_volume_ml, Connectivity connectivity, std::int16_t label) {
  const LabelChange* change = editor_.remove_islands(min_volume_ml, connectivity, label);
  if (!change) return 0;
  labels_changed.notify();
  after_change(change, false);
  return change->voxel_count();
}

bool ScanSession::undo() { return history_step(editor_.undo(), /*undone=*/true); }

bool ScanSession::redo() { return history_step(editor_.redo(), /*undone=*/false); }

bool ScanSession::history_step(const LabelChange* change, bool undone) {
  if (!change) return false;
  labels_changed.notify();
  after_change(change, undone);
  return true;
}

void ScanSession::after_change(const LabelChange* change, bool undone) {
  statistics_.apply(*change, undone);
  statistics_changed.notify();
  history_changed.notify();
  add_missing_descriptions();
}

// --- statistics --------------------------------------------------------------

void ScanSession::set_reference(const at::Tensor& reference) {
  statistics_.set_reference(reference);
  statistics_.recompute(editor_.labels());
  statistics_changed.notify();
  add_missing_descriptions();
}

void ScanSession::export_statistics_csv(const std::filesystem::path& path) const {
  std::map<int, std::string> names;
  for (const LabelDescription& d : label_table_) names[d.value] = d.name;
  write_label_statistics_csv(path, statistics_.rows(), names, statistics_.has_reference());
}

}  // namespace medseg::gui
