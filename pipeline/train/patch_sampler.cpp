#include "pipeline/train/patch_sampler.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace medseg::pipeline {

void index_class_locations(TrainingCase& c, std::int64_t num_classes) {
  c.class_locations.clear();
  const at::Tensor flat = c.labels.reshape({-1});
  for (std::int64_t k = 1; k < num_classes; ++k) {
    at::Tensor where = (flat == k).nonzero().reshape({-1});
    const std::int64_t n = where.numel();
    if (n > kMaxClassLocations) {
      where = where.slice(0, 0, n, (n + kMaxClassLocations - 1) / kMaxClassLocations).contiguous();
    }
    c.class_locations.push_back(where);
  }
}

PatchSampler::PatchSampler(const std::vector<TrainingCase>& cases, std::array<std::int64_t, 3> patch_size)
    : cases_(cases), patch_size_(patch_size) {
  if (cases_.empty()) throw ConfigError("no training cases to sample patches from");
  for (const auto& c : cases_) domains_.push_back(c.domain);
  std::sort(domains_.begin(), domains_.end());
  domains_.erase(std::unique(domains_.begin(), domains_.end()), domains_.end());
}

PatchLocation PatchSampler::sample(Random& random, bool foreground) const {
  return sample_in(random, foreground,
                   static_cast<std::size_t>(random.index(static_cast<std::int64_t>(cases_.size()))));
}

PatchLocation PatchSampler::sample(Random& random, bool foreground, std::int64_t domain) const {
  std::vector<std::size_t> in_domain;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    if (cases_[i].domain == domain) in_domain.push_back(i);
  }
  if (in_domain.empty()) throw ModelError("no training case of domain " + std::to_string(domain));
  return sample_in(random, foreground,
                   in_domain[static_cast<std::size_t>(random.index(static_cast<std::int64_t>(in_domain.size())))]);
}

PatchLocation PatchSampler::sample_in(Random& random, bool foreground, std::size_t case_index) const {
  PatchLocation loc;
  loc.case_index = case_index;
  const TrainingCase& c = cases_[loc.case_index];
  const std::array<std::int64_t, 3> size{c.labels.size(2), c.labels.size(1), c.labels.size(0)};
  if (foreground) {
    std::vector<std::size_t> present;
    for (std::size_t k = 0; k < c.class_locations.size(); ++k) {
      if (c.class_locations[k].numel() > 0) present.push_back(k);
    }
    if (!present.empty()) {
      const auto& where = c.class_locations[present[static_cast<std::size_t>(
          random.index(static_cast<std::int64_t>(present.size())))]];
      const std::int64_t flat = where[random.index(where.numel())].item<std::int64_t>();
      loc.center = {flat % size[0], (flat / size[0]) % size[1], flat / (size[0] * size[1])};
      return loc;
    }
  }
  for (int d = 0; d < 3; ++d) {
    // Centres that keep the patch inside; when the volume is smaller than
    // the patch, the patch is centred and padded.
    const std::int64_t half = patch_size_[d] / 2;
    const std::int64_t lo = std::min(half, size[d] / 2);
    const std::int64_t hi = std::max(lo, size[d] - (patch_size_[d] - half));
    loc.center[d] = lo + random.index(hi - lo + 1);
  }
  return loc;
}

}  // namespace medseg::pipeline
