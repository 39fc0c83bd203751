#pragma once
// The training loop: Dice+CE with deep supervision, SGD (Nesterov, poly
// schedule) or AdamW, optional bf16 autocast, gradient clipping, a NaN/Inf
// guard, validation Dice per label, `last`/`best` bundles and a checkpoint
// after every epoch from which a run resumes exactly.
//
// Output folder:
//   config.yaml        the effective config (a resumed run must match it)
//   checkpoint.pt      model + optimizer + progress after the last epoch
//   log.jsonl          one JSON object per epoch (see EpochRecord)
//   model_last/        bundle after the last epoch
//   model_best/        bundle with the best mean validation Dice
//   preprocessed/      the preprocessed-case cache (unless dataset.cache)
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/config/train_config.h"

namespace medseg::pipeline {

class ProcessGroup;

struct EpochRecord {
  std::int64_t epoch = 0;  ///< 1-based
  double train_loss = 0.0;  ///< mean over the epoch's iterations
  double learning_rate = 0.0;
  double seconds = 0.0;             ///< whole epoch, validation included
  double train_seconds = 0.0;       ///< iterations only
  double data_wait_seconds = 0.0;   ///< of train_seconds, waiting for batches
  double patches_per_second = 0.0;  ///< during iterations, all ranks together
  int world_size = 1;               ///< processes that trained this epoch
  /// Data-parallel runs: seconds and bytes of this rank's all-reduces in the
  /// iterations (gradients and batch-norm statistics).
  double communication_seconds = 0.0;
  std::int64_t communication_bytes = 0;
  /// The precision the iterations ran in ("fp32" or "bf16"; never "auto").
  std::string precision;
  /// Per foreground label (1..K-1); empty when this epoch did not validate.
  std::vector<double> validation_dice;
  double mean_validation_dice = -1.0;  ///< -1 when not validated
  /// Seconds re-estimating the batch-norm statistics before validation
  /// (training.precise_bn_batches); -1 when not done this epoch.
  double precise_bn_seconds = -1.0;
  bool best = false;
};

/// One JSON line (the log format).
std::string to_json_line(const EpochRecord& record);

struct TrainerCallbacks {
  /// Informational lines (dataset, plan, resume…).
  std::function<void(const std::string&)> log;
  /// After every iteration: epoch (1-based), iteration (1-based), iterations
  /// per epoch, loss of this iteration.
  std::function<void(std::int64_t, std::int64_t, std::int64_t, double)> on_iteration;
  std::function<void(const EpochRecord&)> on_epoch;
};

struct TrainResult {
  std::vector<EpochRecord> epochs;  ///< this invocation's epochs
  double best_mean_dice = -1.0;
  std::int64_t best_epoch = 0;
};

struct TrainOptions {
  bool resume = false;
  /// Recorded in the bundles' provenance (e.g. git describe).
  std::string software_version;
  /// Data-parallel training: the joined group (outlives train()); null for
  /// one process. Every rank calls train() with the same config; rank 0 alone
  /// writes the run folder (config, log, checkpoint, bundles) and validates.
  /// config.output must be the same shared folder for all ranks when resuming:
  /// every rank reads the checkpoint.
  ProcessGroup* group = nullptr;
};

/// Trains as configured. With `options.resume`, continues the run in config.output
/// from its checkpoint (the config must be the same); without, refuses an
/// output folder that already holds a run. Throws ConfigError/IoError for bad
/// input and ModelError when the loss or gradients become NaN/Inf (the
/// checkpoint of the last complete epoch is kept).
TrainResult train(const TrainConfig& config, const TrainOptions& options, const TrainerCallbacks& callbacks = {});

}  // namespace medseg::pipeline
