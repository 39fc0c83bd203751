#include "pipeline/infer/predictor.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <memory>

#include "models/autocast.h"
#include "models/inference_unet3d.h"
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
  const auto network = std::make_shared<const models::InferenceUNet3d>(
      model, domain, models::InferenceUNet3dOptions().bf16(bf16));
  // Every norm folded (fp32, or bf16 where native): oneDNN's own API, 1.1-1.7x
  // faster per window from AVX2 kernels to AMX (docs/performance.md, "U-Net
  // forward against the Conv3d ceiling").
  if (models::OnednnUNet3d::supports(*network)) {
    const auto direct = std::make_shared<const models::OnednnUNet3d>(*network);
    return [direct](const at::Tensor& input) { return direct->forward(input); };
  }
  return [network](const at::Tensor& input) { return network->forward(input); };
}

}  // namespace medseg::pipeline
