#pragma once
// The network as a sliding-window Predictor: no gradients, eval mode, the
// scanner's normalization statistics, optionally bf16 autocast.
#include <cstdint>

#include "models/unet3d.h"
#include "pipeline/infer/sliding_window.h"

namespace medseg::pipeline {

/// Calls `model` (which the caller has put in eval mode) on each window
/// batch with every sample tagged `domain`; returns float32 logits.
Predictor network_predictor(models::UNet3d model, std::int64_t domain, bool bf16);

/// The same logits, faster: `model` (eval mode, after any adaptation) is
/// rebuilt once with `domain`'s batch-norm statistics folded into its
/// convolutions, on oneDNN's own API where it can (models::folded_forward).
/// Later changes to `model` do not reach the predictor.
Predictor folded_network_predictor(const models::UNet3d& model, std::int64_t domain, bool bf16);

}  // namespace medseg::pipeline
