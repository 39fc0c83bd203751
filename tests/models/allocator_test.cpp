#include "models/allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>

namespace medseg::models {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// The output of a Conv3d 16 -> 16 on 96^3 voxels is 56.6 MB, above glibc's
// largest mmap threshold: with the default settings every forward maps it
// afresh and its 13824 pages fault on first write (plus oneDNN's buffers).
// After reuse_freed_memory(), once the heap has grown to the working size,
// repeated forwards reuse freed memory.
TEST(Allocator, RepeatedConvolutionsReuseFreedMemory) {
  ASSERT_TRUE(reuse_freed_memory());
  torch::NoGradGuard no_grad;
  torch::nn::Conv3d conv(torch::nn::Conv3dOptions(16, 16, 3).padding(1));
  const torch::Tensor x = torch::randn({1, 16, 96, 96, 96});
  for (int i = 0; i < 3; ++i) conv->forward(x);  // the heap grows to its working size
  const long before = minor_faults();
  for (int i = 0; i < 3; ++i) conv->forward(x);
  const long faults = minor_faults() - before;
  EXPECT_LT(faults, 2000) << "3 Conv3d forwards on 96^3 caused " << faults
                          << " page faults (>= 13824 each without reuse)";
}

}  // namespace
}  // namespace medseg::models
