#pragma once
// Thread configuration for LibTorch. Debian's LibTorch build starts with ONE
// intra-op thread, so medseg sets the count explicitly at start-up.

namespace medseg::models {

/// Number of hardware threads the process may use (at least 1).
int hardware_threads();

/// Sets LibTorch's intra-op thread count. `requested` <= 0 means "all
/// hardware threads". Returns the count now in effect.
int configure_threads(int requested);

/// Makes ATen's parallel loops called from this thread run on it alone.
/// Threads that work beside the main computation call it (the training
/// loader's workers): otherwise each opens an OpenMP team as wide as the
/// main one, and on 2 cores the 4 spinning threads made bf16 training 3x
/// slower (docs/performance.md, "Training").
void limit_this_thread_to_one_compute_thread();

}  // namespace medseg::models
