#pragma once
// Reads an extracted InVesalius 3 project (the gzip'd tar `.inv3`, unpacked):
// main.plist + matrix.dat (the CT) and mask_N.plist + mask_N.dat.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/volume.h"

namespace medseg::pipeline {

struct InvesaliusMask {
  std::string name;
  /// 1 where InVesalius marked the voxel, 0 elsewhere; on the CT's grid.
  Volume mask;
};

struct InvesaliusProject {
  Volume image;  ///< values as stored (HU for CT), geometry see below
  std::vector<InvesaliusMask> masks;
};

/// Reads the project in `folder` (the folder holding main.plist).
///
/// Geometry: the project stores spacing but neither origin nor direction.
/// InVesalius keeps slices in acquisition order (index k toward Superior
/// for this scan) and flips rows on import, so row index j runs toward
/// Anterior; we set direction diag(1, -1, 1) in LPS ("LAS") and origin 0.
/// Left/right cannot be verified from the project file.
/// Masks are stored with one extra leading plane, row and column, which are
/// dropped so the mask lies on the CT's grid.
InvesaliusProject read_invesalius_project(const std::filesystem::path& folder);

}  // namespace medseg::pipeline
