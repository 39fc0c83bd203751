#include "pipeline/infer/postprocess.h"

#include <ATen/ATen.h>

#include <cmath>

#include "pipeline/preprocess/connected_components.h"

namespace medseg::pipeline {

Volume postprocess_labels(const Volume& labels, const PostprocessOptions& options) {
  if (!options.keep_largest_component && options.min_island_ml <= 0.0) return labels;
  const auto& sp = labels.geometry.spacing;
  const double voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
  const auto min_voxels = static_cast<std::int64_t>(std::ceil(options.min_island_ml / voxel_ml));
  Volume out = labels;
  out.data = labels.data.clone();
  const at::Tensor values = std::get<0>(at::_unique(labels.data));
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const at::Scalar value = values[i].item();
    if (value.toDouble() == 0.0) continue;
    Volume mask = labels;
    mask.data = (labels.data == value).to(at::kFloat);
    at::Tensor keep = mask.data > 0;
    if (options.keep_largest_component) keep = largest_component(mask).data > 0;
    if (min_voxels > 0) keep = keep & (remove_small_components(mask, min_voxels).data > 0);
    out.data.masked_fill_((labels.data == value) & ~keep, 0);
  }
  return out;
}

}  // namespace medseg::pipeline
