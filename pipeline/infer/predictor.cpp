#include "pipeline/infer/predictor.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "models/autocast.h"
#include "models/onednn_unet3d.h"

namespace medseg::pipeline {

Predictor network_predictor(models::UNet3d model, std::int64_t domain, bool bf16) {
  return [model, domain, bf16](const at::Tensor& input) mutable {
    at::NoGradGuard no_grad;
    const at::Tensor ids = at::full({input.size(0)}, domain, at::kLong);
    models::Bf16Autocast autocast(bf16);
    return model->forward(input, ids).to(at::kFloat);
  };
}

Predictor folded_network_predictor(const models::UNet3d& model, std::int64_t domain, bool bf16) {
  return models::folded_forward(model, domain, bf16);
}

}  // namespace medseg::pipeline
