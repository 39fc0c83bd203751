#pragma once
// Convolution FLOPs of one UNet3d forward, counted analytically from its
// options (kernel sizes, strides, widths, up-sampling kind): 2 · C_in · C_out
// · prod(kernel) multiply-adds per output voxel of a convolution, per input
// voxel of a transposed convolution. Norms, activations, concatenation and
// the pixel shuffle are not counted, so GFLOP/s is an "effective" rate.
// The walk also counts the convolution weights it implies, which callers
// compare with the real network to make sure the walk describes it.
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "models/unet3d.h"

namespace medseg::bench {

struct UNetFlops {
  double flops = 0;    ///< one forward of a batch of one
  double weights = 0;  ///< convolution weights the walk implies (all heads)
};

/// `size_ijk`: the input's voxels along (i, j, k); `all_heads`: every
/// decoder level's head runs (deep supervision while training).
inline UNetFlops unet_forward_flops(const models::UNet3dOptions& o, const std::array<int64_t, 3>& size_ijk,
                                    bool all_heads) {
  const int64_t depth = o.depth();
  std::vector<std::array<int64_t, 3>> strides = o.strides(), kernels = o.kernel_sizes();
  if (strides.empty()) {
    strides.push_back({1, 1, 1});
    for (int64_t l = 1; l < depth; ++l) strides.push_back({2, 2, 2});
  }
  if (kernels.empty()) kernels.assign(static_cast<size_t>(depth), {3, 3, 3});
  std::vector<double> voxels;  // per level, after that level's stride
  std::array<int64_t, 3> size = size_ijk;
  for (int64_t l = 0; l < depth; ++l) {
    for (int a = 0; a < 3; ++a) size[a] /= strides[static_cast<size_t>(l)][a];
    voxels.push_back(static_cast<double>(size[0]) * static_cast<double>(size[1]) * static_cast<double>(size[2]));
  }
  const auto features = [&](int64_t l) { return static_cast<double>(std::min(o.base_features() << l, o.max_features())); };
  const auto taps = [&](int64_t l) {
    const auto& k = kernels[static_cast<size_t>(l)];
    return static_cast<double>(k[0] * k[1] * k[2]);
  };
  UNetFlops r;
  const auto conv = [&](double cin, double cout, double k, double counted_voxels) {
    r.weights += cin * cout * k;
    r.flops += 2.0 * cin * cout * k * counted_voxels;
  };
  double in = static_cast<double>(o.in_channels());
  for (int64_t l = 0; l < depth; ++l) {
    conv(in, features(l), taps(l), voxels[static_cast<size_t>(l)]);
    conv(features(l), features(l), taps(l), voxels[static_cast<size_t>(l)]);
    in = features(l);
  }
  for (int64_t l = depth - 2; l >= 0; --l) {
    const auto& s = strides[static_cast<size_t>(l + 1)];
    const double up = static_cast<double>(s[0] * s[1] * s[2]);
    // Both forms: C_in · C_out · prod(stride) weights applied once per
    // low-resolution voxel (1x1x1 conv to C_out · prod(stride) channels, or
    // the transposed conv's kernel per input voxel).
    conv(features(l + 1), features(l) * up, 1, voxels[static_cast<size_t>(l + 1)]);
    conv(2 * features(l), features(l), taps(l), voxels[static_cast<size_t>(l)]);
    conv(features(l), features(l), taps(l), voxels[static_cast<size_t>(l)]);
    if (all_heads || l == 0) {
      conv(features(l), static_cast<double>(o.num_classes()), 1, voxels[static_cast<size_t>(l)]);
    } else {
      r.weights += features(l) * static_cast<double>(o.num_classes());  // the head exists, unused
    }
  }
  if (depth == 1) conv(features(0), static_cast<double>(o.num_classes()), 1, voxels[0]);
  return r;
}

/// Convolution weights (5-D parameters) of a module.
inline double conv_weight_count(torch::nn::Module& net) {
  double n = 0;
  for (const auto& item : net.named_parameters()) {
    if (item.value().dim() == 5) n += static_cast<double>(item.value().numel());
  }
  return n;
}

}  // namespace medseg::bench
