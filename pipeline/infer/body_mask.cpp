#include "pipeline/infer/body_mask.h"

#include <ATen/ATen.h>

namespace medseg::pipeline {

BodyMask body_mask(const at::Tensor& image, double tolerance) {
  TORCH_CHECK(image.dim() == 4 && image.numel() > 0, "body_mask expects a non-empty (C, D, H, W) image, got ",
              image.sizes());
  BodyMask result;
  const at::Tensor flat = image.reshape({image.size(0), -1});
  result.background = std::get<0>(flat.min(1)).to(at::kFloat).contiguous();
  at::Tensor mask;
  for (std::int64_t c = 0; c < image.size(0); ++c) {
    const at::Tensor above = image[c] > (result.background[c].item<double>() + tolerance);
    mask = mask.defined() ? mask.logical_or_(above) : above;
  }
  result.mask = mask;
  return result;
}

}  // namespace medseg::pipeline
