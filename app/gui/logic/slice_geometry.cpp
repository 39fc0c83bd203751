#include "app/gui/logic/slice_geometry.h"

#include <cmath>

#include "core/error.h"
#include "pipeline/orientation.h"

namespace medseg::gui {
namespace {

// LPS world axes: 0 = x (toward Left), 1 = y (toward Posterior), 2 = z
// (toward Superior). letter(axis, +1) is where the positive direction points.
char letter(int world_axis, int sign) {
  static constexpr char kPositive[3] = {'L', 'P', 'S'};
  static constexpr char kNegative[3] = {'R', 'A', 'I'};
  return sign > 0 ? kPositive[world_axis] : kNegative[world_axis];
}

// What each view shows, in world terms: the world axis along screen columns
// and the direction (in LPS signs) u grows toward, the same for rows (v grows
// downward), and the world axis the view looks along.
struct ViewSpec {
  int x_world;
  int x_sign;
  int y_world;
  int y_sign;
  int slice_world;
};

ViewSpec spec_of(ViewKind kind, DisplayConvention convention) {
  // Radiological: u grows toward the patient's Left (+x), so the patient's
  // left is on the screen's right. Neurological mirrors that.
  const int lr = convention == DisplayConvention::kRadiological ? +1 : -1;
  switch (kind) {
    case ViewKind::kAxial:
      // Anterior at the top: v (downward) grows toward Posterior (+y).
      return {0, lr, 1, +1, 2};
    case ViewKind::kCoronal:
      // Superior at the top: v grows toward Inferior (-z).
      return {0, lr, 2, -1, 1};
    case ViewKind::kSagittal:
      // Anterior on the left (u grows toward Posterior), Superior at the top.
      return {1, +1, 2, -1, 0};
  }
  return {0, lr, 1, +1, 2};
}

int world_axis_of_letter(char c) {
  switch (c) {
    case 'L': case 'R': return 0;
    case 'P': case 'A': return 1;
    default: return 2;  // 'S', 'I'
  }
}

}  // namespace

const char* view_name(ViewKind kind) {
  switch (kind) {
    case ViewKind::kAxial: return "axial";
    case ViewKind::kCoronal: return "coronal";
    case ViewKind::kSagittal: return "sagittal";
  }
  return "?";
}

SliceGeometry::SliceGeometry(const pipeline::Geometry& geometry, DisplayConvention convention)
    : geometry_(geometry), convention_(convention) {
  for (int c = 0; c < 3; ++c) {
    if (geometry_.size[c] <= 0) {
      throw IoError("slice geometry: grid size " + std::to_string(geometry_.size[0]) + "x" +
                    std::to_string(geometry_.size[1]) + "x" + std::to_string(geometry_.size[2]) +
                    " has an empty axis (expected every size > 0)");
    }
  }
  // The pairing of voxel axes with anatomical axes is the project's
  // orientation code; parse its letters instead of repeating its logic.
  code_ = pipeline::orientation_code(geometry_.direction);
  for (int c = 0; c < 3; ++c) {
    const char l = code_[static_cast<std::size_t>(c)];
    world_axis_of_voxel_[c] = world_axis_of_letter(l);
    sign_of_voxel_[c] = (l == 'L' || l == 'P' || l == 'S') ? +1 : -1;
  }
  // Inverse of M = direction * diag(spacing) by cofactors (3x3).
  std::array<double, 9> m{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) m[r * 3 + c] = geometry_.direction_at(r, c) * geometry_.spacing[c];
  }
  const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                     m[2] * (m[3] * m[7] - m[4] * m[6]);
  if (!(std::abs(det) > 1e-12)) {
    throw IoError("slice geometry: direction x spacing is singular (determinant " + std::to_string(det) + ")");
  }
  const double inv = 1.0 / det;
  world_to_index_ = {(m[4] * m[8] - m[5] * m[7]) * inv, (m[2] * m[7] - m[1] * m[8]) * inv,
                     (m[1] * m[5] - m[2] * m[4]) * inv, (m[5] * m[6] - m[3] * m[8]) * inv,
                     (m[0] * m[8] - m[2] * m[6]) * inv, (m[2] * m[3] - m[0] * m[5]) * inv,
                     (m[3] * m[7] - m[4] * m[6]) * inv, (m[1] * m[6] - m[0] * m[7]) * inv,
                     (m[0] * m[4] - m[1] * m[3]) * inv};
  build_views();
}

void SliceGeometry::set_convention(DisplayConvention convention) {
  convention_ = convention;
  build_views();
}

void SliceGeometry::build_views() {
  std::array<int, 3> voxel_of_world{};
  for (int c = 0; c < 3; ++c) voxel_of_world[world_axis_of_voxel_[c]] = c;
  for (ViewKind kind : {ViewKind::kAxial, ViewKind::kCoronal, ViewKind::kSagittal}) {
    const ViewSpec s = spec_of(kind, convention_);
    ViewMapping& m = views_[static_cast<int>(kind)];
    m.x_axis = voxel_of_world[s.x_world];
    m.y_axis = voxel_of_world[s.y_world];
    m.slice_axis = voxel_of_world[s.slice_world];
    // Flipped when the voxel axis points the other way than the screen axis
    // should go.
    m.x_flipped = sign_of_voxel_[m.x_axis] != s.x_sign;
    m.y_flipped = sign_of_voxel_[m.y_axis] != s.y_sign;
    m.width = geometry_.size[m.x_axis];
    m.height = geometry_.size[m.y_axis];
    m.slice_count = geometry_.size[m.slice_axis];
    m.pixel_width_mm = geometry_.spacing[m.x_axis];
    m.pixel_height_mm = geometry_.spacing[m.y_axis];
    m.right = letter(s.x_world, s.x_sign);
    m.left = letter(s.x_world, -s.x_sign);
    m.bottom = letter(s.y_world, s.y_sign);
    m.top = letter(s.y_world, -s.y_sign);
  }
}

std::array<double, 2> SliceGeometry::voxel_to_screen(ViewKind kind, const std::array<double, 3>& voxel) const {
  const ViewMapping& m = view(kind);
  const double a = voxel[m.x_axis], b = voxel[m.y_axis];
  return {m.x_flipped ? static_cast<double>(m.width - 1) - a : a,
          m.y_flipped ? static_cast<double>(m.height - 1) - b : b};
}

std::array<double, 3> SliceGeometry::screen_to_voxel(ViewKind kind, double u, double v, double slice) const {
  const ViewMapping& m = view(kind);
  std::array<double, 3> voxel{};
  voxel[m.x_axis] = m.x_flipped ? static_cast<double>(m.width - 1) - u : u;
  voxel[m.y_axis] = m.y_flipped ? static_cast<double>(m.height - 1) - v : v;
  voxel[m.slice_axis] = slice;
  return voxel;
}

std::int64_t SliceGeometry::slice_of(ViewKind kind, const std::array<std::int64_t, 3>& crosshair) const {
  return crosshair[view(kind).slice_axis];
}

std::array<double, 3> SliceGeometry::voxel_to_patient(const std::array<double, 3>& voxel) const {
  return geometry_.index_to_world(voxel);
}

std::array<double, 3> SliceGeometry::patient_to_voxel(const std::array<double, 3>& patient_mm) const {
  std::array<double, 3> d{};
  for (int r = 0; r < 3; ++r) d[r] = patient_mm[r] - geometry_.origin[r];
  std::array<double, 3> voxel{};
  for (int r = 0; r < 3; ++r) {
    voxel[r] = world_to_index_[r * 3 + 0] * d[0] + world_to_index_[r * 3 + 1] * d[1] +
               world_to_index_[r * 3 + 2] * d[2];
  }
  return voxel;
}

bool SliceGeometry::contains(const std::array<std::int64_t, 3>& voxel) const {
  for (int c = 0; c < 3; ++c) {
    if (voxel[c] < 0 || voxel[c] >= geometry_.size[c]) return false;
  }
  return true;
}

template <typename T>
void SliceGeometry::extract_slice(ViewKind kind, std::int64_t slice, const T* data, T* out) const {
  const ViewMapping& m = view(kind);
  if (slice < 0 || slice >= m.slice_count) {
    throw IoError(std::string("slice ") + std::to_string(slice) + " of the " + view_name(kind) +
                  " view is outside 0.." + std::to_string(m.slice_count - 1));
  }
  const std::array<std::int64_t, 3> stride{1, geometry_.size[0], geometry_.size[0] * geometry_.size[1]};
  // Each in-plane axis: stride in the volume, step and start in `out`.
  struct Axis {
    std::int64_t in_stride, out_step, out_start, n;
  };
  const Axis x{stride[m.x_axis], m.x_flipped ? -1 : 1, m.x_flipped ? m.width - 1 : 0, m.width};
  const Axis y{stride[m.y_axis], m.y_flipped ? -m.width : m.width, m.y_flipped ? (m.height - 1) * m.width : 0,
               m.height};
  // Walk the volume along its smaller stride in the inner loop: for a
  // sagittal view of an axially stored scan both strides are large, but the
  // reads at least go forward through memory.
  const bool x_inner = x.in_stride <= y.in_stride;
  const Axis& inner = x_inner ? x : y;
  const Axis& outer = x_inner ? y : x;
  const T* base = data + slice * stride[m.slice_axis];
  for (std::int64_t p = 0; p < outer.n; ++p) {
    const T* src = base + p * outer.in_stride;
    T* dst = out + outer.out_start + p * outer.out_step + inner.out_start;
    const std::int64_t in_stride = inner.in_stride, out_step = inner.out_step;
    if (in_stride == 1 && out_step == 1) {
      for (std::int64_t q = 0; q < inner.n; ++q) dst[q] = src[q];  // vectorizable copy
    } else {
      for (std::int64_t q = 0; q < inner.n; ++q) dst[q * out_step] = src[q * in_stride];
    }
  }
}

template void SliceGeometry::extract_slice<float>(ViewKind, std::int64_t, const float*, float*) const;
template void SliceGeometry::extract_slice<std::int16_t>(ViewKind, std::int64_t, const std::int16_t*,
                                                         std::int16_t*) const;

}  // namespace medseg::gui
