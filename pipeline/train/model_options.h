#pragma once
// The U-Net a training config describes, completed by the data.
#include <cstdint>

#include "models/unet3d.h"
#include "pipeline/config/train_config.h"

namespace medseg::pipeline {

/// config.architecture with the data's channel, class and domain counts.
models::UNet3dOptions unet_options(const ModelConfig& model, std::int64_t in_channels, std::int64_t num_classes,
                                   std::int64_t num_domains);

}  // namespace medseg::pipeline
