#include "pipeline/orientation.h"

#include <algorithm>
#include <cmath>

namespace medseg::pipeline {

std::string orientation_code(const std::array<double, 9>& direction) {
  // LPS world: +x is Left, +y is Posterior, +z is Superior.
  static constexpr char kPositive[3] = {'L', 'P', 'S'};
  static constexpr char kNegative[3] = {'R', 'A', 'I'};
  // Pair index axes with world axes greedily by largest |cosine|, so that
  // even a 45-degree oblique grid gets three distinct letters.
  std::array<int, 9> order{0, 1, 2, 3, 4, 5, 6, 7, 8};
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::abs(direction[a]) > std::abs(direction[b]);
  });
  std::array<int, 3> world_of_axis{-1, -1, -1};
  bool world_used[3] = {false, false, false};
  for (int entry : order) {
    const int row = entry / 3, col = entry % 3;
    if (world_of_axis[col] >= 0 || world_used[row]) continue;
    world_of_axis[col] = row;
    world_used[row] = true;
  }
  std::string code;
  for (int col = 0; col < 3; ++col) {
    const int row = world_of_axis[col];
    code += direction[row * 3 + col] >= 0 ? kPositive[row] : kNegative[row];
  }
  return code;
}

}  // namespace medseg::pipeline
