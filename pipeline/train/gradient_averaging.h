#pragma once
// Data parallelism without DistributedDataParallel (which LibTorch's C++ API
// lacks): after backward, every rank's gradients are summed in one flat
// all-reduce and divided by the world size, so each rank's optimizer takes
// the step of the mean loss over the global batch.
#include <ATen/core/Tensor.h>

#include <vector>

#include "pipeline/train/process_group.h"

namespace medseg::pipeline {

/// Replaces the gradient of every parameter by its mean over the ranks and
/// returns the mean of `local_loss`. One float32 bucket carries all gradients,
/// a flag per parameter (a gradient undefined on every rank stays undefined;
/// one defined on some rank becomes defined everywhere, zeros where it was
/// missing) and the loss; a non-finite value anywhere makes the returned loss
/// non-finite on every rank, so all ranks stop together.
double average_gradients(const std::vector<at::Tensor>& parameters, double local_loss, ProcessGroup& group);

}  // namespace medseg::pipeline
