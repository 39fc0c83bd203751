#include "pipeline/train/model_options.h"

namespace medseg::pipeline {

models::UNet3dOptions unet_options(const ModelConfig& m, std::int64_t in_channels, std::int64_t num_classes,
                                   std::int64_t num_domains) {
  models::UNet3dOptions o = m.architecture;
  o.in_channels(in_channels).num_classes(num_classes);
  o.norm().num_domains(num_domains);
  return o;
}

}  // namespace medseg::pipeline
