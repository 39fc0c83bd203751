#include "pipeline/orientation.h"

#include <gtest/gtest.h>

namespace medseg::pipeline {

TEST(OrientationCode, IdentityLpsDirectionIsLps) {
  EXPECT_EQ(orientation_code({1, 0, 0, 0, 1, 0, 0, 0, 1}), "LPS");
}

TEST(OrientationCode, NiftiRasIdentityAffineIsRas) {
  // A NIfTI with identity RAS affine has LPS direction diag(-1, -1, 1).
  EXPECT_EQ(orientation_code({-1, 0, 0, 0, -1, 0, 0, 0, 1}), "RAS");
}

TEST(OrientationCode, PermutedAxesFollowTheirColumns) {
  // Axis i points Superior, j points Right, k points Anterior.
  EXPECT_EQ(orientation_code({0, -1, 0, 0, 0, -1, 1, 0, 0}), "SRA");
}

TEST(OrientationCode, ObliqueAxisTakesLargestComponent) {
  const double c = 0.8660254037844387, s = 0.5;  // 30 degrees about z
  EXPECT_EQ(orientation_code({c, -s, 0, s, c, 0, 0, 0, 1}), "LPS");
  EXPECT_EQ(orientation_code({s, -c, 0, c, s, 0, 0, 0, 1}), "PRS");
}

}  // namespace medseg::pipeline
