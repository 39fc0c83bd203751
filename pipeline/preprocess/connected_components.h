#pragma once
// Connected components of binary masks.
#include <cstdint>

#include "pipeline/volume.h"

namespace medseg::pipeline {

/// The largest 26-connected component of the nonzero voxels of `mask`
/// (1 inside, 0 elsewhere; all zeros when the mask is empty). Same geometry.
Volume largest_component(const Volume& mask);

/// `mask` without its 26-connected components smaller than `min_voxels`.
Volume remove_small_components(const Volume& mask, std::int64_t min_voxels);

}  // namespace medseg::pipeline
