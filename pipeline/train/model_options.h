#pragma once
// The U-Net a training config describes.
#include <array>
#include <cstdint>

#include "models/unet3d.h"
#include "pipeline/config/train_config.h"

namespace medseg::pipeline {

models::UNet3dOptions unet_options(const ModelConfig& model, std::int64_t in_channels, std::int64_t num_classes,
                                   std::int64_t num_domains);

/// Product of the per-level strides along i, j, k (what patch sides must be
/// multiples of).
std::array<std::int64_t, 3> total_stride(const ModelConfig& model);

}  // namespace medseg::pipeline
