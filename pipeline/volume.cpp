#include "pipeline/volume.h"

namespace medseg::pipeline {

std::array<double, 3> Geometry::index_to_world(const std::array<double, 3>& index) const {
  std::array<double, 3> world = origin;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      world[r] += direction_at(r, c) * spacing[c] * index[c];
    }
  }
  return world;
}

}  // namespace medseg::pipeline
