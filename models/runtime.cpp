#include "models/runtime.h"

#include <ATen/Parallel.h>

#include <thread>

namespace medseg::models {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int configure_threads(int requested) {
  const int n = requested > 0 ? requested : hardware_threads();
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace medseg::models
