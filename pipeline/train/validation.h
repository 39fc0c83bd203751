#pragma once
// Validation during training: sliding-window prediction over whole
// preprocessed validation cases, Dice per foreground label.
#include <array>
#include <cstdint>
#include <vector>

#include "models/unet3d.h"
#include "pipeline/train/training_case.h"

namespace medseg::pipeline {

/// Mean over `cases` of dice_per_label (pipeline/eval/metrics.h) (NaNs skipped; NaN if every case
/// lacks a label). Puts `model` in eval mode and back in train mode.
std::vector<double> validation_dice(models::UNet3d& model, const std::vector<TrainingCase>& cases,
                                    std::int64_t num_classes, const std::array<std::int64_t, 3>& patch_size,
                                    double overlap, bool bf16);

}  // namespace medseg::pipeline
