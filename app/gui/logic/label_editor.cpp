#include "app/gui/logic/label_editor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace medseg::gui {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string s;
  for (std::int64_t d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

void check_shape(const pipeline::Geometry& g, const at::Tensor& t, const char* what) {
  if (t.dim() != 3 || t.size(0) != g.size[2] || t.size(1) != g.size[1] || t.size(2) != g.size[0]) {
    throw IoError(std::string("label editor: ") + what + " has shape " + shape_text(t) + ", expected (D, H, W) = " +
                  std::to_string(g.size[2]) + "x" + std::to_string(g.size[1]) + "x" + std::to_string(g.size[0]));
  }
}

// The two voxel axes spanning the plane perpendicular to `normal`.
std::array<int, 2> plane_axes(int normal) {
  return {normal == 0 ? 1 : 0, normal == 2 ? 1 : 2};
}

}  // namespace

LabelEditor::LabelEditor(const pipeline::Geometry& geometry, const at::Tensor& labels, at::Tensor intensities,
                         std::size_t max_undo_bytes)
    : geometry_(geometry), intensities_(std::move(intensities)), history_(max_undo_bytes) {
  if (labels.defined()) {
    check_shape(geometry_, labels, "the label map");
    // The editor owns what it changes: copy, but only once (to() and
    // contiguous() already copy when they convert).
    at::Tensor converted = labels.to(at::kShort).contiguous();
    labels_ = converted.is_same(labels) ? converted.clone() : converted;
  } else {
    labels_ = at::zeros({geometry_.size[2], geometry_.size[1], geometry_.size[0]}, at::kShort);
  }
  data_ = labels_.data_ptr<std::int16_t>();
  if (intensities_.defined()) {
    check_shape(geometry_, intensities_, "the scan");
    intensities_ = intensities_.to(at::kFloat).contiguous();
  }
}

void LabelEditor::check_not_in_stroke(const char* operation) const {
  if (stroke_active_) throw std::logic_error(std::string("label editor: ") + operation + " during a stroke");
}

void LabelEditor::begin_stroke(const BrushOptions& options, int normal_axis) {
  check_not_in_stroke("begin_stroke");
  if (!(options.radius_mm > 0) || !std::isfinite(options.radius_mm)) {
    throw ConfigError("brush radius " + std::to_string(options.radius_mm) + " mm (expected > 0)");
  }
  if (options.mode == BrushMode::kPaint && options.label <= 0) {
    throw ConfigError("brush label " + std::to_string(options.label) + " (expected 1..32767; erase to clear)");
  }
  if (options.intensity_range) {
    if (!intensities_.defined()) throw ConfigError("brush intensity range without a scan");
    if (!((*options.intensity_range)[0] <= (*options.intensity_range)[1])) {
      throw ConfigError("brush intensity range " + std::to_string((*options.intensity_range)[0]) + ".." +
                        std::to_string((*options.intensity_range)[1]) + " (expected min <= max)");
    }
  }
  if (normal_axis < 0 || normal_axis > 2) {
    throw ConfigError("brush normal axis " + std::to_string(normal_axis) + " (expected 0, 1 or 2)");
  }
  brush_ = options;
  normal_axis_ = normal_axis;
  last_centre_.reset();
  stroke_edits_.clear();
  stroke_active_ = true;
}

void LabelEditor::paint_disc(const std::array<double, 3>& centre) {
  const std::int64_t slice = std::llround(centre[normal_axis_]);
  if (slice < 0 || slice >= geometry_.size[normal_axis_]) return;
  const auto [a0, a1] = plane_axes(normal_axis_);
  const std::array<std::int64_t, 3> stride{1, geometry_.size[0], geometry_.size[0] * geometry_.size[1]};
  const double s0 = geometry_.spacing[a0], s1 = geometry_.spacing[a1];
  const double c0 = centre[a0], c1 = centre[a1];
  const double r = brush_.radius_mm;
  // A hair of tolerance so that voxels exactly on the circle (radius 3 mm,
  // 1.5 mm spacing) count however the products round.
  const double r2 = r * r * (1.0 + 1e-9);
  const std::int64_t n0 = geometry_.size[a0], n1 = geometry_.size[a1];
  const auto lo0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(c0 - r / s0 - 1e-9)));
  const auto hi0 = std::min<std::int64_t>(n0 - 1, static_cast<std::int64_t>(std::floor(c0 + r / s0 + 1e-9)));
  const auto lo1 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(c1 - r / s1 - 1e-9)));
  const auto hi1 = std::min<std::int64_t>(n1 - 1, static_cast<std::int64_t>(std::floor(c1 + r / s1 + 1e-9)));

  const std::int16_t target = brush_.mode == BrushMode::kPaint ? brush_.label : std::int16_t{0};
  const float* scan = brush_.intensity_range ? intensities_.data_ptr<float>() : nullptr;
  const double imin = scan ? (*brush_.intensity_range)[0] : 0.0;
  const double imax = scan ? (*brush_.intensity_range)[1] : 0.0;
  const std::int64_t base = slice * stride[normal_axis_];
  auto try_set = [&](std::int64_t x0, std::int64_t x1) {
    const std::int64_t index = base + x0 * stride[a0] + x1 * stride[a1];
    const std::int16_t current = data_[index];
    if (current == target) return;
    if (brush_.protect_other_labels) {
      // Paint may cover background and its own label; erase removes only
      // its own label.
      if (brush_.mode == BrushMode::kPaint ? current != 0 : current != brush_.label) return;
    }
    if (scan) {
      const double v = scan[index];
      if (!(v >= imin && v <= imax)) return;
    }
    // The stroke's target is fixed, so a voxel changes at most once per
    // stroke: recording it here never records it twice.
    stroke_edits_.push_back({index, current, target});
    data_[index] = target;
    ++changed_in_call_;
  };
  bool covered_any = false;
  for (std::int64_t x1 = lo1; x1 <= hi1; ++x1) {
    const double d1 = (static_cast<double>(x1) - c1) * s1;
    for (std::int64_t x0 = lo0; x0 <= hi0; ++x0) {
      const double d0 = (static_cast<double>(x0) - c0) * s0;
      if (d0 * d0 + d1 * d1 <= r2) {
        try_set(x0, x1);
        covered_any = true;
      }
    }
  }
  if (!covered_any) {
    // A brush smaller than a voxel still paints the voxel under it.
    const std::int64_t x0 = std::llround(c0), x1 = std::llround(c1);
    if (x0 >= 0 && x0 < n0 && x1 >= 0 && x1 < n1) try_set(x0, x1);
  }
}

std::int64_t LabelEditor::paint_at(const std::array<double, 3>& centre) {
  if (!stroke_active_) throw std::logic_error("label editor: paint_at outside a stroke");
  changed_in_call_ = 0;
  if (last_centre_) {
    // Discs every half radius (or half voxel, if smaller) along the segment
    // from the previous centre; the previous centre itself is done.
    const std::array<double, 3>& from = *last_centre_;
    double length_mm2 = 0.0, min_spacing = geometry_.spacing[0];
    for (int c = 0; c < 3; ++c) {
      const double d = (centre[c] - from[c]) * geometry_.spacing[c];
      length_mm2 += d * d;
      min_spacing = std::min(min_spacing, geometry_.spacing[c]);
    }
    const double step_mm = 0.5 * std::min(brush_.radius_mm, min_spacing);
    const auto steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(std::sqrt(length_mm2) / step_mm)));
    for (std::int64_t s = 1; s <= steps; ++s) {
      const double t = static_cast<double>(s) / static_cast<double>(steps);
      paint_disc({from[0] + t * (centre[0] - from[0]), from[1] + t * (centre[1] - from[1]),
                  from[2] + t * (centre[2] - from[2])});
    }
  } else {
    paint_disc(centre);
  }
  last_centre_ = centre;
  return changed_in_call_;
}

const LabelChange* LabelEditor::end_stroke() {
  if (!stroke_active_) throw std::logic_error("label editor: end_stroke without begin_stroke");
  stroke_active_ = false;
  last_centre_.reset();
  if (stroke_edits_.empty()) return nullptr;
  history_.push(LabelChange::from_edits(std::move(stroke_edits_)));
  stroke_edits_ = {};
  return history_.last_applied();
}

const LabelChange* LabelEditor::replace_all(const at::Tensor& new_labels) {
  check_not_in_stroke("replace_all");
  check_shape(geometry_, new_labels, "the new label map");
  const at::Tensor incoming = new_labels.to(at::kShort).contiguous();
  const std::int16_t* in = incoming.data_ptr<std::int16_t>();
  LabelChange change;
  const std::int64_t n = labels_.numel();
  for (std::int64_t index = 0; index < n; ++index) {
    if (in[index] != data_[index]) {
      change.append(index, data_[index], in[index]);
      data_[index] = in[index];
    }
  }
  if (change.empty()) return nullptr;
  history_.push(std::move(change));
  return history_.last_applied();
}

const LabelChange* LabelEditor::remove_islands(double min_volume_ml, Connectivity connectivity, std::int16_t label) {
  check_not_in_stroke("remove_islands");
  if (!(min_volume_ml >= 0) || !std::isfinite(min_volume_ml)) {
    throw ConfigError("island size " + std::to_string(min_volume_ml) + " mL (expected >= 0)");
  }
  const std::int64_t w = geometry_.size[0], h = geometry_.size[1], d = geometry_.size[2];
  const std::int64_t plane = w * h, n = plane * d;
  const double voxel_ml = geometry_.spacing[0] * geometry_.spacing[1] * geometry_.spacing[2] / 1000.0;

  std::vector<std::array<int, 3>> offsets;
  for (int dk = -1; dk <= 1; ++dk) {
    for (int dj = -1; dj <= 1; ++dj) {
      for (int di = -1; di <= 1; ++di) {
        const int nonzero = (di != 0) + (dj != 0) + (dk != 0);
        if (nonzero == 0) continue;
        if (connectivity == Connectivity::kFaces6 && nonzero != 1) continue;
        offsets.push_back({di, dj, dk});
      }
    }
  }
  std::vector<std::uint64_t> visited(static_cast<std::size_t>((n + 63) / 64), 0);
  auto seen = [&](std::int64_t p) { return (visited[static_cast<std::size_t>(p >> 6)] >> (p & 63)) & 1u; };
  auto mark = [&](std::int64_t p) { visited[static_cast<std::size_t>(p >> 6)] |= std::uint64_t{1} << (p & 63); };

  std::vector<VoxelEdit> edits;
  std::vector<std::int64_t> stack, members;
  for (std::int64_t start = 0; start < n; ++start) {
    const std::int16_t value = data_[start];
    if (value == 0 || (label != 0 && value != label) || seen(start)) continue;
    // Flood-fill the island of `value` containing `start`.
    mark(start);
    stack.assign(1, start);
    members.clear();
    std::int64_t count = 0;
    bool small = true;
    while (!stack.empty()) {
      const std::int64_t p = stack.back();
      stack.pop_back();
      ++count;
      if (small) {
        if (static_cast<double>(count) * voxel_ml < min_volume_ml) {
          members.push_back(p);
        } else {
          small = false;  // large enough to keep: stop listing its voxels
          members.clear();
          members.shrink_to_fit();
        }
      }
      const std::int64_t k = p / plane, j = (p % plane) / w, i = p % w;
      for (const auto& o : offsets) {
        const std::int64_t ni = i + o[0], nj = j + o[1], nk = k + o[2];
        if (ni < 0 || ni >= w || nj < 0 || nj >= h || nk < 0 || nk >= d) continue;
        const std::int64_t q = p + o[0] + o[1] * w + o[2] * plane;
        if (data_[q] == value && !seen(q)) {
          mark(q);
          stack.push_back(q);
        }
      }
    }
    if (small) {
      for (std::int64_t p : members) edits.push_back({p, value, 0});
    }
  }
  if (edits.empty()) return nullptr;
  for (const VoxelEdit& e : edits) data_[e.index] = 0;
  history_.push(LabelChange::from_edits(std::move(edits)));
  return history_.last_applied();
}

const LabelChange* LabelEditor::undo() {
  check_not_in_stroke("undo");
  return history_.undo(data_);
}

const LabelChange* LabelEditor::redo() {
  check_not_in_stroke("redo");
  return history_.redo(data_);
}

}  // namespace medseg::gui
