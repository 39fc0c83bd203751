#include "models/runtime.h"

#include <ATen/Parallel.h>
#include <omp.h>

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

void limit_this_thread_to_one_compute_thread() {
  // at::init_num_threads() first: its lazy call at this thread's first
  // parallel_for would set it back to the global count.
  at::internal::lazy_init_num_threads();
  omp_set_num_threads(1);
}

}  // namespace medseg::models
