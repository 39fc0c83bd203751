#pragma once
// PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): a
// model's running statistics re-estimated with its final weights.
//
// During training the running statistics are an exponential average
// (momentum 0.1, i.e. mostly the last ~10 batches) of statistics computed
// while the weights were still moving; with batches of two 3D patches that
// estimate is noisy. Here the weights are held fixed and the population
// statistics the network was trained to expect are averaged over many
// training batches: per layer, the mean over batches of each batch's mean and
// unbiased variance (models::AdaptationEstimate::kBatchAverage), every layer
// seeing inputs normalized as in training. On the bundled MRI recipe neither
// this nor frozen batch norm changed robustness to simulated scanners in a
// way two training seeds agree on (docs/scanner_training.md); what PreciseBN
// does reliably is make validation during training reflect the weights.
#include <cstdint>

#include "models/unet3d.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/batch_loader.h"

namespace medseg::pipeline {

/// How PreciseBN draws its batches for a run with these settings: the run's
/// batch size and foreground share, from a seed stream of their own (so the
/// training batches are those of a run without it), one process.
BatchLoaderOptions precise_bn_loader_options(const TrainingConfig& training);

/// Replaces the running statistics of every batch-norm layer of `model` by
/// their average over batches 0 … batches − 1 of make_batch(sampler,
/// augmenter, options, ·). Weights, the train/eval mode and any other state
/// stay as they were. `bf16`: run the forwards under bf16 autocast (as
/// training does). Returns the number of layers re-estimated.
/// Throws ConfigError if the model has no batch-norm layer or more than one
/// domain (per-domain estimation is not implemented), or `batches` < 1.
std::int64_t recompute_batch_norm_statistics(models::UNet3d& model, const PatchSampler& sampler,
                                             const Augmenter& augmenter, const BatchLoaderOptions& options,
                                             std::int64_t batches, bool bf16);

/// Frozen batch norm for the end of training: every batch-norm layer of
/// `model` normalizes with its running statistics from now on, in training
/// mode too, and no longer updates them (γ and β still learn). This removes
/// the train/test difference of batch norm with tiny batches: training then
/// normalizes exactly as inference will. Lasts until the next
/// `model->train()`, which makes the layers batch-normalize again.
/// Returns the number of layers frozen.
std::int64_t freeze_batch_norm(models::UNet3d& model);

}  // namespace medseg::pipeline
