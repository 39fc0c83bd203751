#pragma once
// A preprocessed case held in memory for patch sampling.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace medseg::pipeline {

struct TrainingCase {
  std::string id;
  /// Float32 (C, D, H, W), normalized.
  at::Tensor image;
  /// Int16 (D, H, W) labels.
  at::Tensor labels;
  std::int64_t domain = 0;
  /// For each foreground class c (index c - 1): flat voxel indices of up to
  /// kMaxClassLocations voxels of that class (an even stride through them).
  std::vector<at::Tensor> class_locations;
};

inline constexpr std::int64_t kMaxClassLocations = 10000;

/// Fills `class_locations` for classes 1..num_classes - 1.
void index_class_locations(TrainingCase& c, std::int64_t num_classes);

}  // namespace medseg::pipeline
