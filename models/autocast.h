#pragma once
// bfloat16 CPU autocast for a scope. On this CPU (AVX512-BF16) convolutions
// run much faster in bf16 while reductions (norms, softmax, losses) stay in
// float32 under autocast, which keeps results close to float32.
#include <ATen/autocast_mode.h>

namespace medseg::models {

/// Enables CPU autocast to bfloat16 while alive (when `enabled`), restoring
/// the previous state after. Casts cached during the scope are dropped on
/// exit so weights updated afterwards are cast again.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled)
      : enabled_(enabled), was_enabled_(at::autocast::is_cpu_enabled()),
        old_dtype_(at::autocast::get_autocast_cpu_dtype()) {
    if (!enabled_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(old_dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  bool was_enabled_;
  at::ScalarType old_dtype_;
};

}  // namespace medseg::models
