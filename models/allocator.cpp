#include "models/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace medseg::models {

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  // mallopt(3): M_MMAP_MAX 0 disables mmap for large requests; M_TRIM_THRESHOLD
  // -1 disables trimming the heap top completely. Both return 1 on success.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

}  // namespace medseg::models
