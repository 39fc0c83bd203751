#pragma once
// Thread configuration for LibTorch. Debian's LibTorch build starts with ONE
// intra-op thread, so medseg sets the count explicitly at start-up.

namespace medseg::models {

/// Number of hardware threads the process may use (at least 1).
int hardware_threads();

/// Sets LibTorch's intra-op thread count. `requested` <= 0 means "all
/// hardware threads". Returns the count now in effect.
int configure_threads(int requested);

}  // namespace medseg::models
