#pragma once
// glibc malloc settings for programs that allocate many large tensors.
//
// With glibc's defaults every block above 32 MiB (and, depending on its
// dynamic threshold, smaller ones) is a fresh mmap(), and freed memory goes
// back to the kernel; the first write to each 4 KiB page of it is then a page
// fault. On the development VM a page fault costs ~8 µs, so touching a fresh
// 56 MB tensor costs ~100 ms — several times the arithmetic of the Conv3d
// that fills it. See docs/performance.md, "U-Net and up-sampling (issue 4)".

#include <cstddef>

namespace medseg::models {

/// Makes glibc malloc serve every allocation from its heap (no mmap per
/// block) and never return freed heap memory to the kernel, so that freed
/// tensor memory is reused without page faults: the same as running with
/// MALLOC_MMAP_MAX_=0 and MALLOC_TRIM_THRESHOLD_=<huge>. Call once, early in
/// main(), before the first large allocation.
///
/// Costs: the process keeps its peak heap until it exits, and the heap can
/// grow beyond the peak working set (a freed block is not always reused for
/// the next aligned allocation of the same size), which is then paid in page
/// faults once more. Returns false, changing nothing, where the C library is
/// not glibc or refuses a setting.
bool reuse_freed_memory();

/// Makes LibTorch allocate CPU tensors of 4 MiB and more as 2 MiB-aligned
/// anonymous mappings advised for transparent huge pages (MADV_HUGEPAGE),
/// and keep freed ones for later tensors (up to `cache_bytes` in all; beyond
/// that they go back to the kernel): a request takes the smallest cached
/// block that fits if it is at most twice the size. Smaller tensors keep
/// LibTorch's allocator.
///
/// Why: on this VM first touching 314 MB (one float copy of a 512x512x300
/// CT) costs ~0.9 s in 4 KiB page faults and ~0.02-0.25 s in 2 MiB ones
/// (docs/performance.md); reuse_freed_memory() alone only helps the second
/// time a size is needed. Where the kernel has no huge page to give, the
/// mapping falls back to small pages: still correct, just slower.
/// Call once, early in main(). Returns false if LibTorch refused it.
bool use_huge_page_tensor_allocator(std::size_t cache_bytes = std::size_t{2} << 30);

/// Bytes currently kept for reuse by that allocator (for tests).
std::size_t huge_page_cache_bytes();

}  // namespace medseg::models
