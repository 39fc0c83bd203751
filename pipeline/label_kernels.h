#pragma once
// Whole-volume label passes as single loops threaded over the volume: ATen's
// argmax over the class dimension and one comparison + sum per label took
// ~1 s and ~1.4 s on a 512x512x300 CT in inference; these take tens of ms.
// Dataset checks and fingerprints count label values the same way.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <vector>

namespace medseg::pipeline {

/// values[k] for the class k with the largest score at each voxel (the
/// first on ties, as at::argmax). `scores` is float32 (K, D, H, W), K ==
/// values.size(); the result is int16 (D, H, W).
at::Tensor argmax_labels(const at::Tensor& scores, const std::vector<std::int16_t>& values);

/// How many voxels of an int16 volume hold each of `values`.
std::vector<std::int64_t> count_values(const at::Tensor& labels, const std::vector<std::int16_t>& values);

/// Every value an int16 volume holds, with its voxel count (what
/// at::_unique + at::bincount give, without sorting or an int64 copy).
std::map<std::int16_t, std::int64_t> value_histogram(const at::Tensor& labels);

}  // namespace medseg::pipeline
