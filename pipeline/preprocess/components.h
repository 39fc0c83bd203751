#pragma once
// Connected components of binary masks.
#include "pipeline/volume.h"

namespace medseg::pipeline {

/// The largest 26-connected component of the nonzero voxels of `mask`
/// (1 inside, 0 elsewhere; all zeros when the mask is empty). Same geometry.
Volume largest_component(const Volume& mask);

}  // namespace medseg::pipeline
