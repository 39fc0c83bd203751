#pragma once
// Helpers shared by the inference tests (segmenter, adaptation, batch
// inference): exact geometry comparison, fp32 segment options, and a
// snapshot of a model's parameters and buffers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "models/unet3d.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/volume.h"

namespace medseg::pipeline::test_infer {

inline void expect_same_geometry(const Geometry& a, const Geometry& b, double tol = 0.0) {
  EXPECT_EQ(a.size, b.size);
  for (int d = 0; d < 3; ++d) {
    EXPECT_NEAR(a.spacing[d], b.spacing[d], tol) << "spacing " << d;
    EXPECT_NEAR(a.origin[d], b.origin[d], tol) << "origin " << d;
  }
  for (int d = 0; d < 9; ++d) EXPECT_NEAR(a.direction[d], b.direction[d], tol) << "direction " << d;
}

inline SegmentOptions fp32() {
  SegmentOptions o;
  o.precision = Precision::kFp32;
  return o;
}

/// Copies of every parameter and buffer, by name.
inline std::map<std::string, torch::Tensor> state_of(models::UNet3d& model) {
  std::map<std::string, torch::Tensor> s;
  for (const auto& p : model->named_parameters()) s[p.key()] = p.value().detach().clone();
  for (const auto& b : model->named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}

}  // namespace medseg::pipeline::test_infer
