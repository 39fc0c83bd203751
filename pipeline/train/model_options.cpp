#include "pipeline/train/model_options.h"

namespace medseg::pipeline {

models::UNet3dOptions unet_options(const ModelConfig& m, std::int64_t in_channels, std::int64_t num_classes,
                                   std::int64_t num_domains) {
  models::NormOptions norm(models::parse_norm_kind(m.norm));
  norm.num_groups(m.num_groups)
      .num_domains(num_domains)
      .domain_affine(m.domain_affine)
      .eps(m.norm_eps)
      .momentum(m.norm_momentum ? c10::optional<double>(*m.norm_momentum) : c10::nullopt)
      .r_max(m.renorm_r_max)
      .d_max(m.renorm_d_max)
      .renorm_warmup_steps(m.renorm_warmup_steps);
  models::UNet3dOptions o(in_channels, num_classes);
  o.base_features(m.base_features)
      .max_features(m.max_features)
      .depth(m.depth)
      .kernel_sizes(std::vector<models::Int3>(m.kernel_sizes.begin(), m.kernel_sizes.end()))
      .strides(std::vector<models::Int3>(m.strides.begin(), m.strides.end()))
      .norm(norm)
      .negative_slope(m.negative_slope)
      .deep_supervision(m.deep_supervision)
      .dropout(m.dropout);
  return o;
}

std::array<std::int64_t, 3> total_stride(const ModelConfig& m) {
  std::array<std::int64_t, 3> total{1, 1, 1};
  for (std::int64_t level = 0; level < m.depth; ++level) {
    for (int d = 0; d < 3; ++d) {
      if (!m.strides.empty()) {
        total[d] *= m.strides[static_cast<std::size_t>(level)][static_cast<std::size_t>(d)];
      } else if (level > 0) {
        total[d] *= 2;
      }
    }
  }
  return total;
}

}  // namespace medseg::pipeline
