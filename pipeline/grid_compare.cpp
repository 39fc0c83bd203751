#include "pipeline/grid_compare.h"

#include <cmath>
#include <sstream>

namespace medseg::pipeline {
namespace {

template <typename T>
std::string triple(const std::array<T, 3>& v, const char* sep) {
  std::ostringstream s;
  s << v[0] << sep << v[1] << sep << v[2];
  return s.str();
}

}  // namespace

std::string grid_difference(const Geometry& a, const Geometry& b, const GridTolerance& tol) {
  if (a.size != b.size) return "size " + triple(a.size, "x") + " vs " + triple(b.size, "x");
  for (int d = 0; d < 3; ++d) {
    if (std::abs(a.spacing[d] - b.spacing[d]) > tol.spacing_mm) {
      return "spacing " + triple(a.spacing, "x") + " mm vs " + triple(b.spacing, "x") + " mm";
    }
  }
  for (int d = 0; d < 3; ++d) {
    if (std::abs(a.origin[d] - b.origin[d]) > tol.origin_mm) {
      return "origin (" + triple(a.origin, ", ") + ") mm vs (" + triple(b.origin, ", ") + ") mm";
    }
  }
  for (int i = 0; i < 9; ++i) {
    if (std::abs(a.direction[i] - b.direction[i]) > tol.direction) {
      std::ostringstream s;
      s << "direction differs (element " << i << ": " << a.direction[i] << " vs " << b.direction[i] << ")";
      return s.str();
    }
  }
  return {};
}

}  // namespace medseg::pipeline
