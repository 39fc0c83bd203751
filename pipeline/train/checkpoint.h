#pragma once
// The resumable state of a training run in one file, replaced atomically
// after every epoch: a run killed at any moment (even kill -9) resumes from
// the last complete epoch and, because batches and per-iteration random
// seeds depend only on (seed, iteration), ends with the same weights.
#include <cstdint>
#include <filesystem>

#include "models/unet3d.h"

namespace torch::optim {
class Optimizer;
}

namespace medseg::pipeline {

struct CheckpointState {
  std::int64_t epoch = 0;  ///< completed epochs
  double best_mean_dice = -1.0;
  std::int64_t best_epoch = 0;
};

/// Model parameters and buffers, optimizer state and `state`; written to a
/// temporary file and renamed over `file`. Throws IoError.
void save_checkpoint(const std::filesystem::path& file, models::UNet3d& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state);

/// Restores what save_checkpoint wrote into `model` and `optimizer` (built
/// from the same config). Throws IoError naming the file when it is
/// unreadable or does not fit the model.
CheckpointState load_checkpoint(const std::filesystem::path& file, models::UNet3d& model,
                                torch::optim::Optimizer& optimizer);

}  // namespace medseg::pipeline
