#include "pipeline/preprocess/reorient.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/grid_compare.h"
#include "pipeline/orientation.h"

namespace medseg::pipeline {
namespace {

// World axis (0 = x L/R, 1 = y P/A, 2 = z S/I) and sign (+1 toward L/P/S).
std::pair<int, int> letter_axis(char letter) {
  switch (letter) {
    case 'L': return {0, 1};
    case 'R': return {0, -1};
    case 'P': return {1, 1};
    case 'A': return {1, -1};
    case 'S': return {2, 1};
    case 'I': return {2, -1};
    default: return {-1, 0};
  }
}

// Tensor dimension holding index axis `axis` (i is the last dimension).
std::int64_t tensor_dim(const at::Tensor& data, int axis) { return data.dim() - 1 - axis; }

}  // namespace

AxisMapping axis_mapping_to(const Geometry& grid, const std::string& code) {
  if (code.size() != 3) throw ConfigError("orientation code '" + code + "' must have 3 letters");
  std::array<int, 3> world_axis{}, world_sign{};
  bool used[3] = {false, false, false};
  for (int a = 0; a < 3; ++a) {
    const auto [axis, sign] = letter_axis(code[a]);
    if (axis < 0 || used[axis]) {
      throw ConfigError("orientation code '" + code +
                        "' must name each of L/R, P/A, S/I exactly once");
    }
    used[axis] = true;
    world_axis[a] = axis;
    world_sign[a] = sign;
  }
  // Dominant world axis of each old index axis (as orientation_code does).
  const std::string current = orientation_code(grid.direction);
  AxisMapping m;
  for (int a = 0; a < 3; ++a) {
    for (int old = 0; old < 3; ++old) {
      const auto [axis, sign] = letter_axis(current[old]);
      if (axis == world_axis[a]) {
        m.source[a] = old;
        m.flip[a] = sign != world_sign[a];
      }
    }
  }
  return m;
}

Volume apply_axis_mapping(const Volume& volume, const AxisMapping& m) {
  const Geometry& g = volume.geometry;
  const at::Tensor& data = volume.data;
  const std::int64_t lead = data.dim() - 3;
  std::vector<std::int64_t> order;
  for (std::int64_t d = 0; d < lead; ++d) order.push_back(d);
  // New tensor dims are (k', j', i'); new axis a lives at dim lead + 2 - a.
  for (int a = 2; a >= 0; --a) order.push_back(tensor_dim(data, m.source[a]));
  at::Tensor out = data.permute(order);
  std::vector<std::int64_t> flips;
  for (int a = 0; a < 3; ++a) {
    if (m.flip[a]) flips.push_back(lead + 2 - a);
  }
  if (!flips.empty()) out = out.flip(flips);

  Volume result = volume;
  result.data = out.contiguous();
  std::array<double, 3> corner{0, 0, 0};  // old index of the new first voxel
  for (int a = 0; a < 3; ++a) {
    const int s = m.source[a];
    result.geometry.size[a] = g.size[s];
    result.geometry.spacing[a] = g.spacing[s];
    for (int r = 0; r < 3; ++r) {
      result.geometry.direction[r * 3 + a] = g.direction_at(r, s) * (m.flip[a] ? -1.0 : 1.0);
    }
    if (m.flip[a]) corner[s] = static_cast<double>(g.size[s] - 1);
  }
  result.geometry.origin = g.index_to_world(corner);
  return result;
}

Reorient::Reorient(std::string code) : code_(std::move(code)) {
  axis_mapping_to(Geometry{}, code_);  // validates the code now, not at first use
}

Volume Reorient::operator()(const Volume& volume) const {
  return apply_axis_mapping(volume, axis_mapping_to(volume.geometry, code_));
}

Volume Reorient::inverse(const Volume& volume, const Geometry& original) {
  Volume back =
      apply_axis_mapping(volume, axis_mapping_to(volume.geometry, orientation_code(original.direction)));
  if (back.geometry.size != original.size) {
    throw ModelError("cannot undo reorientation: volume size does not match the original grid");
  }
  // A permutation with flips is exact; copying the grid removes rounding in
  // the origin so the result matches the input bit for bit.
  back.geometry = original;
  return back;
}

std::optional<Volume> same_voxels_on_grid(const Volume& volume, const Geometry& grid) {
  if (grid_difference(volume.geometry, grid).empty()) return volume;
  Volume moved = apply_axis_mapping(volume, axis_mapping_to(volume.geometry, orientation_code(grid.direction)));
  if (!grid_difference(moved.geometry, grid).empty()) return std::nullopt;
  moved.geometry = grid;  // the same within tolerance: take the grid's exact numbers
  return moved;
}

}  // namespace medseg::pipeline
