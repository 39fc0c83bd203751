#pragma once
// Orientation codes such as "RAS" or "LPS" for a direction matrix.
#include <array>
#include <string>

namespace medseg::pipeline {

/// Three-letter code naming the anatomical direction each index axis points
/// TOWARD (the convention of nibabel's aff2axcodes, ITK-SNAP and 3D Slicer):
/// a NIfTI stored with an identity RAS affine is "RAS". Note that ITK's own
/// ITK_COORDINATE_ORIENTATION_* enum names the opposite ("from") direction.
/// `direction` is row-major LPS, as in Geometry::direction. Oblique axes
/// take the letter of their largest component; index axes are paired with
/// world axes greedily by largest |cosine|, so the three letters always
/// name three different world axes.
std::string orientation_code(const std::array<double, 9>& direction);

}  // namespace medseg::pipeline
