#pragma once
// The accepted range of a model's own `prior` settings (BundleInfo::
// adapt_prior_windows / adapt_prior_strength, and the training config keys
// that set them), apart from bundle.h so that configs check them without
// LibTorch's headers.
#include <cstdint>

namespace medseg::models {

inline constexpr std::int64_t kMinPriorWindows = 2;
inline constexpr std::int64_t kMaxPriorWindows = 4096;
inline constexpr double kMaxPriorStrength = 1e6;

}  // namespace medseg::models
