#include "pipeline/data/planner.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

double median_of(std::vector<double> v) {
  return percentile(at::tensor(v, at::kDouble), 50.0);
}

}  // namespace

std::array<double, 3> plan_target_spacing(const std::vector<std::array<double, 3>>& spacings,
                                          const std::vector<std::array<std::int64_t, 3>>& sizes,
                                          double anisotropy_threshold) {
  if (spacings.empty() || spacings.size() != sizes.size()) {
    throw ConfigError("cannot plan a target spacing without cases");
  }
  std::array<double, 3> target{};
  std::array<double, 3> median_size{};
  for (int d = 0; d < 3; ++d) {
    std::vector<double> s, n;
    for (std::size_t c = 0; c < spacings.size(); ++c) {
      s.push_back(spacings[c][d]);
      n.push_back(static_cast<double>(sizes[c][d]));
    }
    target[d] = median_of(s);
    median_size[d] = median_of(n);
  }
  const int worst = static_cast<int>(std::max_element(target.begin(), target.end()) - target.begin());
  double other_spacing = 0.0, other_size = 1e300;
  for (int d = 0; d < 3; ++d) {
    if (d == worst) continue;
    other_spacing = std::max(other_spacing, target[d]);
    other_size = std::min(other_size, median_size[d]);
  }
  const bool anisotropic_spacing = target[worst] > anisotropy_threshold * other_spacing;
  const bool anisotropic_voxels = median_size[worst] * anisotropy_threshold < other_size;
  if (anisotropic_spacing && anisotropic_voxels) {
    std::vector<double> along;
    for (const auto& s : spacings) along.push_back(s[worst]);
    double t = percentile(at::tensor(along, at::kDouble), 10.0);
    if (t < other_spacing) t = other_spacing + 1e-5;
    target[worst] = t;
  }
  return target;
}

std::int64_t estimate_training_bytes(std::int64_t voxels, int base_features, int batch) {
  return voxels * 16LL * base_features * 4LL * batch;
}

std::array<std::int64_t, 3> plan_patch_size(const std::array<double, 3>& median_shape,
                                            const std::array<double, 3>& spacing,
                                            std::int64_t budget_bytes, int base_features, int batch,
                                            std::int64_t divisor) {
  std::array<std::int64_t, 3> patch{};
  for (int d = 0; d < 3; ++d) {
    patch[d] = std::max<std::int64_t>(
        divisor, static_cast<std::int64_t>(std::ceil(median_shape[d] / double(divisor))) * divisor);
  }
  while (estimate_training_bytes(patch[0] * patch[1] * patch[2], base_features, batch) > budget_bytes) {
    int axis = -1;
    double extent = -1.0;
    for (int d = 0; d < 3; ++d) {
      if (patch[d] > divisor && patch[d] * spacing[d] > extent) {
        extent = patch[d] * spacing[d];
        axis = d;
      }
    }
    if (axis < 0) break;  // already minimal: the budget is too small, keep the minimum
    patch[axis] -= divisor;
  }
  return patch;
}

DatasetPlan plan_dataset(const Dataset& dataset, const DatasetFingerprint& fp, const PlanOptions& options) {
  std::vector<std::array<double, 3>> spacings;
  std::vector<std::array<std::int64_t, 3>> sizes;
  for (const auto& c : fp.cases) {
    spacings.push_back(c.spacing);
    sizes.push_back(c.cropped_size);
  }
  DatasetPlan plan;
  auto& pre = plan.preprocessing;
  pre.orientation = options.orientation;
  pre.crop_to_nonzero = true;
  pre.target_spacing = plan_target_spacing(spacings, sizes);
  for (int d = 0; d < 3; ++d) {
    std::vector<double> resampled;
    for (const auto& c : fp.cases) resampled.push_back(c.cropped_size[d] * c.spacing[d] / pre.target_spacing[d]);
    plan.median_shape[d] = median_of(resampled);
  }
  // nnU-Net uses the nonzero mask for z-scoring when cropping shrank the
  // volume markedly (the zeros are then outside the body, not tissue).
  double cropped_fraction = 0.0;
  for (const auto& c : fp.cases) {
    cropped_fraction += double(c.cropped_size[0] * c.cropped_size[1] * c.cropped_size[2]) /
                        double(c.size[0] * c.size[1] * c.size[2]);
  }
  cropped_fraction /= static_cast<double>(fp.cases.size());
  pre.normalization.clear();
  for (std::size_t ch = 0; ch < dataset.channel_names.size(); ++ch) {
    std::string name = dataset.channel_names[ch];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    NormalizationRecipe r;
    if (name == "ct") {
      r.kind = NormalizationKind::kCt;
      r.stats = fp.foreground_intensity.at(ch);
    } else {
      r.kind = NormalizationKind::kZscore;
      r.use_nonzero_mask = cropped_fraction < 0.75;
    }
    pre.normalization.push_back(r);
  }
  plan.patch_size = plan_patch_size(plan.median_shape, pre.target_spacing, options.memory_budget_bytes,
                                    options.base_features, options.batch_size, options.divisor);
  return plan;
}

}  // namespace medseg::pipeline
