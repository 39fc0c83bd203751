#pragma once
// A direct 3x3x3 convolution (stride 1, zero padding 1) with 8 or 16 output
// channels, bias and LeakyReLU, float32 (output float32 or bfloat16), written
// with AVX2 + FMA intrinsics.
//
// Why it exists: the full-resolution layers of the bundled U-Nets have 8
// output channels and the next level 16, and oneDNN 2.6's AVX2 direct kernel
// (jit:avx2) keeps too few accumulators in flight for one or two 8-channel
// output blocks: it ran the 8-channel layers at ~58 GFLOP/s on 2 cores
// against 100-128 for its wider ones, and they were ~60 % of the AVX2
// forward. This kernel keeps 12 accumulators in flight (12 output voxels of
// 8 channels, or 6 of 16) and runs those layers at ~110 GFLOP/s on the same
// cores (docs/performance.md, "U-Net forward against the Conv3d ceiling").
// On AVX-512 CPUs oneDNN's own kernels are faster and are used
// (OnednnUNet3d decides).
//
// Layouts are oneDNN's: the input is nCdhw8c — `in_channels` / 8 blocks of
// (D, H, W, 8) floats, `block_stride` floats apart, batches `batch_stride`
// apart — or, for a single input channel, plain (D, H, W) per batch
// (channels_per_block 1). The output is nCdhw8c: out_channels / 8 blocks of
// (D, H, W, 8), contiguous per batch.
#include <cstdint>
#include <vector>

namespace medseg::models {

struct DirectConvArgs {
  const float* input = nullptr;
  int64_t batch = 0;
  int64_t in_channels = 0;         ///< 1, or a multiple of 8
  int64_t out_channels = 0;        ///< 8 or 16
  int64_t depth = 0, height = 0, width = 0;
  int64_t block_stride = 0, batch_stride = 0;  ///< of the input, in floats
  /// From pack_direct_conv_weights().
  const float* weights = nullptr;
  const float* bias = nullptr;     ///< out_channels values
  float negative_slope = 0.01f;    ///< LeakyReLU; 0 = ReLU
  /// float32, or with `bf16_output` the bits of bfloat16 values (rounded to
  /// nearest even) for a bf16 network's next layer.
  void* output = nullptr;
  bool bf16_output = false;
};

/// Whether this CPU can run the kernel (AVX2 and FMA, with OS support).
bool direct_conv_available();

/// Whether direct_conv() computes a layer of these channel counts.
bool direct_conv_fits(int64_t in_channels, int64_t out_channels);

/// `weight` in PyTorch's (out, in, 3, 3, 3) order, repacked as the kernel
/// reads it: [kd][kh][kw][in_channel][out_channel].
std::vector<float> pack_direct_conv_weights(const float* weight, int64_t out_channels, int64_t in_channels);

/// Runs the convolution over ATen's thread pool. Requires
/// direct_conv_available() and direct_conv_fits() (checked).
void direct_conv(const DirectConvArgs& args);

}  // namespace medseg::models
