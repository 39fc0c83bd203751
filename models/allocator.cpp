#include "models/allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

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

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMinBytes = std::size_t{4} << 20;

// Large CPU tensors in huge-page-advised mappings, freed ones cached by size.
// Context and data pointer are the same, so raw_allocate() works too.
class HugePageAllocator final : public c10::Allocator {
 public:
  HugePageAllocator(c10::Allocator* fallback, std::size_t cache_bytes)
      : fallback_(fallback), cache_limit_(cache_bytes) {}

  c10::DataPtr allocate(std::size_t nbytes) const override {
    if (nbytes < kMinBytes) return fallback_->allocate(nbytes);
    const std::size_t size = (nbytes + kHugePage - 1) / kHugePage * kHugePage;
    std::size_t block_size = size;
    void* block = take_cached(size, block_size);
    if (block == nullptr) block = map_block(size);
    if (block == nullptr) return fallback_->allocate(nbytes);
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      live_[block] = block_size;
    }
    return {block, block, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  std::size_t cached_bytes() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  static HugePageAllocator* instance;

 private:
  static void* map_block(std::size_t size) {
    // Over-map by one huge page and trim, so the block starts on a 2 MiB
    // boundary (huge pages only back aligned 2 MiB ranges).
    void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const std::uintptr_t tail = start + size + kHugePage - (aligned + size);
    if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
    void* block = reinterpret_cast<void*>(aligned);
#if defined(MADV_HUGEPAGE)
    madvise(block, size, MADV_HUGEPAGE);
#endif
    return block;
  }

  // The smallest cached block of at least `size` bytes, if it is at most
  // twice that: memory already faulted in beats a fresh mapping (e.g. the
  // int16 label volume of a case reuses a freed float image of it).
  void* take_cached(std::size_t size, std::size_t& block_size) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first > 2 * size) return nullptr;
    void* block = it->second;
    block_size = it->first;
    free_.erase(it);
    cached_ -= block_size;
    return block;
  }

  static void release(void* block) {
    HugePageAllocator& self = *instance;
    std::unique_lock<std::mutex> lock(self.mutex_);
    const auto it = self.live_.find(block);
    if (it == self.live_.end()) {  // raw_allocate()d by the fallback allocator
      lock.unlock();
      const c10::DeleterFnPtr fallback_delete = self.fallback_->raw_deleter();
      TORCH_CHECK(fallback_delete != nullptr, "CPU allocator without a raw deleter");
      fallback_delete(block);
      return;
    }
    const std::size_t size = it->second;
    self.live_.erase(it);
    if (self.cached_ + size <= self.cache_limit_) {
      self.free_.emplace(size, block);
      self.cached_ += size;
      return;
    }
    lock.unlock();
    munmap(block, size);
  }

  c10::Allocator* fallback_;
  std::size_t cache_limit_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, std::size_t> live_;
  mutable std::multimap<std::size_t, void*> free_;
  mutable std::size_t cached_ = 0;
};

HugePageAllocator* HugePageAllocator::instance = nullptr;

}  // namespace

bool use_huge_page_tensor_allocator(std::size_t cache_bytes) {
  static std::once_flag once;
  std::call_once(once, [cache_bytes] {
    // Lives until exit: tensors may be freed during static destruction.
    HugePageAllocator::instance = new HugePageAllocator(c10::GetCPUAllocator(), cache_bytes);
    c10::SetCPUAllocator(HugePageAllocator::instance, /*priority=*/100);
  });
  return c10::GetCPUAllocator() == HugePageAllocator::instance;
}

std::size_t huge_page_cache_bytes() {
  return HugePageAllocator::instance == nullptr ? 0 : HugePageAllocator::instance->cached_bytes();
}

}  // namespace medseg::models
