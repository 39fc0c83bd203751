#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "models/runtime.h"

namespace medseg::models {

TEST(Runtime, ConfigureThreadsSetsLibTorchIntraOpThreads) {
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(configure_threads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
}

TEST(Runtime, ZeroMeansAllHardwareThreads) {
  EXPECT_EQ(configure_threads(0), hardware_threads());
  EXPECT_GE(hardware_threads(), 1);
}

}  // namespace medseg::models
