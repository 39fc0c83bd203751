#include "pipeline/train/precise_batch_norm.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "models/autocast.h"
#include "models/domain_batch_norm.h"
#include "pipeline/random.h"

namespace medseg::pipeline {
BatchLoaderOptions precise_bn_loader_options(const TrainingConfig& training) {
  BatchLoaderOptions o;
  o.batch_size = training.batch_size;
  o.foreground_fraction = training.foreground_oversampling;
  o.seed = derive_seed(static_cast<std::uint64_t>(training.seed), fnv1a("precise_bn"), 0);
  return o;
}

std::int64_t recompute_batch_norm_statistics(models::UNet3d& model, const PatchSampler& sampler,
                                             const Augmenter& augmenter, const BatchLoaderOptions& options,
                                             std::int64_t batches, bool bf16) {
  if (batches < 1) {
    throw ConfigError("precise batch norm: needs at least one batch, got " + std::to_string(batches));
  }
  const auto layers = models::domain_batch_norms(*model);
  if (layers.empty()) throw ConfigError("precise batch norm: the model has no batch-norm layer");
  if (layers.front()->num_domains() != 1) {
    throw ConfigError("precise batch norm: only single-domain models are supported (this one has " +
                      std::to_string(layers.front()->num_domains()) + " domains)");
  }

  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  // Eval mode switches dropout off; the adapting layers normalize each batch
  // by its own statistics whatever the mode, as training does.
  model->eval();
  models::AdaptationEstimate estimate;
  estimate.kind = models::AdaptationEstimate::Kind::kBatchAverage;
  try {
    models::begin_adaptation(*model, 0, estimate);
    for (std::int64_t n = 0; n < batches; ++n) {
      const Batch batch = make_batch(sampler, augmenter, options, n);
      models::Bf16Autocast autocast(bf16);
      model->forward(batch.image, batch.domains);
    }
    models::end_adaptation(*model);
  } catch (...) {
    for (auto* layer : layers) {
      if (layer->is_adapting()) layer->cancel_adaptation();
    }
    model->train(was_training);
    throw;
  }
  model->train(was_training);
  return static_cast<std::int64_t>(layers.size());
}

std::int64_t freeze_batch_norm(models::UNet3d& model) {
  const auto layers = models::domain_batch_norms(*model);
  // Eval mode is exactly "normalize with the running statistics, update
  // nothing"; autograd still reaches γ, β and everything upstream.
  for (auto* layer : layers) layer->eval();
  return static_cast<std::int64_t>(layers.size());
}

}  // namespace medseg::pipeline
