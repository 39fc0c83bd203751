#include "pipeline/orientation.h"

#include <cmath>

namespace medseg::pipeline {

std::string orientation_code(const std::array<double, 9>& direction) {
  // LPS world: +x is Left, +y is Posterior, +z is Superior.
  static constexpr char kPositive[3] = {'L', 'P', 'S'};
  static constexpr char kNegative[3] = {'R', 'A', 'I'};
  std::string code;
  for (int col = 0; col < 3; ++col) {
    int best = 0;
    for (int row = 1; row < 3; ++row) {
      if (std::abs(direction[row * 3 + col]) > std::abs(direction[best * 3 + col])) best = row;
    }
    code += direction[best * 3 + col] >= 0 ? kPositive[best] : kNegative[best];
  }
  return code;
}

}  // namespace medseg::pipeline
