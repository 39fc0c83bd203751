#pragma once
// Where training patches come from: random positions, or centred on a
// foreground voxel of a randomly chosen class (nnU-Net's oversampling with
// class balancing).
#include <array>
#include <cstdint>
#include <vector>

#include "pipeline/random.h"
#include "pipeline/train/training_case.h"

namespace medseg::pipeline {

/// A patch location: the case and the voxel (i, j, k) at the patch centre.
struct PatchLocation {
  std::size_t case_index = 0;
  std::array<std::int64_t, 3> center{0, 0, 0};
};

class PatchSampler {
 public:
  /// `patch_size` in voxels along i, j, k. Cases must outlive the sampler.
  PatchSampler(const std::vector<TrainingCase>& cases, std::array<std::int64_t, 3> patch_size);

  /// A uniformly random case; with `foreground`, the centre is a voxel of a
  /// class drawn uniformly among the classes present in that case (class
  /// balancing); otherwise any centre that keeps the patch inside the volume
  /// where possible.
  PatchLocation sample(Random& random, bool foreground) const;
  /// The same, with the case drawn uniformly among the cases of `domain`
  /// (one of domains()).
  PatchLocation sample(Random& random, bool foreground, std::int64_t domain) const;
  /// The domains of the cases, ascending, each once.
  const std::vector<std::int64_t>& domains() const { return domains_; }

  const std::vector<TrainingCase>& cases() const { return cases_; }
  const std::array<std::int64_t, 3>& patch_size() const { return patch_size_; }

 private:
  PatchLocation sample_in(Random& random, bool foreground, std::size_t case_index) const;

  const std::vector<TrainingCase>& cases_;
  std::array<std::int64_t, 3> patch_size_;
  std::vector<std::int64_t> domains_;
};

}  // namespace medseg::pipeline
