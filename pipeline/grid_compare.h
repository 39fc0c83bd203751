#pragma once
// Do two grids describe the same voxels?
#include <string>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// Tolerances for comparing grids: spacing and origin in mm, direction as
/// an absolute difference of cosines.
struct GridTolerance {
  double spacing_mm = 1e-4;
  double origin_mm = 1e-3;
  double direction = 1e-4;
};

/// Empty when `a` and `b` agree within `tol`; otherwise a short description
/// of the first difference, e.g. "size 91x109x91 vs 91x109x90".
std::string grid_difference(const Geometry& a, const Geometry& b, const GridTolerance& tol = {});

}  // namespace medseg::pipeline
