#include "models/norm.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "models/domain_batch_norm.h"
#include "models/instance_batch_norm.h"
#include "core/enum_names.h"
#include "core/error.h"

namespace medseg::models {

namespace {

constexpr core::EnumNames<NormKind, 5> kNames{"normalization",
                                             {{{NormKind::kBatch, "batch"},
                                               {NormKind::kInstance, "instance"},
                                               {NormKind::kGroup, "group"},
                                               {NormKind::kBatchRenorm, "batch_renorm"},
                                               {NormKind::kNone, "none"}}}};

DomainBatchNormOptions batch_options(const NormOptions& o, int64_t num_features, bool renorm) {
  return DomainBatchNormOptions(num_features)
      .num_domains(o.num_domains())
      .domain_affine(o.domain_affine())
      .eps(o.eps())
      .momentum(o.momentum())
      .affine(o.affine())
      .renorm(renorm)
      .r_max(o.r_max())
      .d_max(o.d_max())
      .renorm_warmup_steps(o.renorm_warmup_steps());
}

torch::nn::InstanceNorm3dOptions instance_options(const NormOptions& o, int64_t num_features) {
  return torch::nn::InstanceNorm3dOptions(num_features).eps(o.eps()).affine(o.affine()).track_running_stats(false);
}

}  // namespace

NormOptions::NormOptions(NormKind kind) : kind_(kind) {}

NormKind parse_norm_kind(std::string_view name) { return kNames.parse(name); }

std::string to_string(NormKind kind) { return kNames.name(kind); }

int64_t instance_channels(const NormOptions& options, int64_t num_features) {
  const auto k = static_cast<int64_t>(std::lround(options.instance_fraction() * static_cast<double>(num_features)));
  return std::clamp<int64_t>(k, 1, num_features);
}

torch::nn::AnyModule make_norm(const NormOptions& options, int64_t num_features, int64_t instance_channels) {
  if (num_features < 1) {
    throw ConfigError("norm: num_features must be >= 1, got " + std::to_string(num_features));
  }
  const bool batch_kind = options.kind() == NormKind::kBatch || options.kind() == NormKind::kBatchRenorm;
  if (instance_channels < 0 || instance_channels > num_features || (instance_channels > 0 && !batch_kind)) {
    throw ConfigError("norm: instance channels must be 0.." + std::to_string(num_features) +
                      " and only with a batch kind; got " + std::to_string(instance_channels) + " with " +
                      to_string(options.kind()));
  }
  try {
    if (instance_channels == num_features) {
      return torch::nn::AnyModule(torch::nn::InstanceNorm3d(instance_options(options, num_features)));
    }
    if (instance_channels > 0) {
      return torch::nn::AnyModule(InstanceBatchNorm(
          instance_options(options, instance_channels),
          batch_options(options, num_features - instance_channels, options.kind() == NormKind::kBatchRenorm)));
    }
    switch (options.kind()) {
      case NormKind::kBatch:
        return torch::nn::AnyModule(DomainBatchNorm(batch_options(options, num_features, false)));
      case NormKind::kBatchRenorm:
        return torch::nn::AnyModule(DomainBatchNorm(batch_options(options, num_features, true)));
      case NormKind::kInstance:
        return torch::nn::AnyModule(torch::nn::InstanceNorm3d(instance_options(options, num_features)));
      case NormKind::kGroup:
        if (options.num_groups() < 1 || num_features % options.num_groups() != 0) {
          std::ostringstream message;
          message << "norm: group norm needs num_groups >= 1 dividing the channel count; got num_groups = "
                  << options.num_groups() << " for " << num_features << " channels";
          throw ConfigError(message.str());
        }
        return torch::nn::AnyModule(torch::nn::GroupNorm(
            torch::nn::GroupNormOptions(options.num_groups(), num_features)
                .eps(options.eps())
                .affine(options.affine())));
      case NormKind::kNone:
        return torch::nn::AnyModule(torch::nn::Identity());
    }
  } catch (const ModelError& error) {  // invalid DomainBatchNorm options
    throw ConfigError(std::string("norm: ") + error.what());
  }
  throw ConfigError("norm: unknown normalization kind");
}

torch::Tensor apply_norm(torch::nn::AnyModule& norm, const torch::Tensor& input,
                         const torch::Tensor& domain_ids) {
  if (auto* batch = norm.ptr()->as<DomainBatchNormImpl>()) return batch->forward(input, domain_ids);
  if (auto* split = norm.ptr()->as<InstanceBatchNormImpl>()) return split->forward(input, domain_ids);
  // LibTorch 1.13's CPU autocast does not cast group_norm's input, and its
  // kernel refuses bf16 activations next to float32 weights; statistics in
  // float32 is what autocast does for the other norms.
  if (norm.ptr()->as<torch::nn::GroupNormImpl>()) return norm.forward(input.to(torch::kFloat));
  return norm.forward(input);
}

}  // namespace medseg::models
