#pragma once
// A direct 3x3x3 convolution (stride 1, zero padding 1) with 8 output
// channels, bias and LeakyReLU, float32, written with AVX2 + FMA intrinsics.
//
// Why it exists: the full-resolution layers of the bundled U-Nets have 8
// output channels, and oneDNN 2.6's AVX2 direct kernel (jit:avx2) runs them
// at half the speed of its wider layers (about 58 vs 100-128 GFLOP/s on 2
// cores), because with one 8-channel output block it keeps only a few
// accumulators in flight. Those layers are ~60 % of the forward on AVX2
// CPUs. This kernel keeps 12 output voxels (12 registers) in flight and runs
// them at ~110 GFLOP/s on the same cores (docs/performance.md, "U-Net forward
// against the Conv3d ceiling"). On AVX-512 CPUs oneDNN's own kernels are used
// (OnednnUNet3d decides).
//
// Layouts (oneDNN's nCdhw8c): the input holds `in_channels` / 8 blocks of
// (D, H, W, 8) floats, `block_stride` floats apart, batches `batch_stride`
// apart; the output is (N, D, H, W, 8) contiguous (nCdhw8c with 8 channels).
#include <cstdint>
#include <vector>

namespace medseg::models {

struct DirectConvOc8Args {
  const float* input = nullptr;
  int64_t batch = 0, in_channels = 0;  // in_channels: a multiple of 8
  int64_t depth = 0, height = 0, width = 0;
  int64_t block_stride = 0, batch_stride = 0;
  /// From pack_direct_conv_oc8_weights().
  const float* weights = nullptr;
  const float* bias = nullptr;  // 8 values
  float negative_slope = 0.01f;  // LeakyReLU; 0 = ReLU
  float* output = nullptr;
};

/// Whether this CPU can run the kernel (AVX2 and FMA, with OS support).
bool direct_conv_oc8_available();

/// `weight` in PyTorch's (8, in_channels, 3, 3, 3) order, repacked as the
/// kernel reads it: [kd][kh][kw][in_channel][8 outputs].
std::vector<float> pack_direct_conv_oc8_weights(const float* weight, int64_t in_channels);

/// Runs the convolution over ATen's thread pool. Requires
/// direct_conv_oc8_available() (checked).
void direct_conv_oc8(const DirectConvOc8Args& args);

}  // namespace medseg::models
