#pragma once
// Row-wise CPU kernels behind DomainBatchNorm's general path. A "row" is one
// (sample, channel) pair of an (N, C, D, H, W) tensor viewed as
// (N·C, D·H·W): every function takes contiguous float32 or float64 tensors
// whose first dimension after flattening leading 1s is the row (R) and whose
// remaining elements (S per row) are the row's values. Sums are accumulated in
// float64 in a fixed order (deterministic, the same on every CPU), rows are
// spread over LibTorch's intra-op threads, and the inner loops are compiled for
// AVX-512, AVX2 and baseline x86-64 with run-time selection.
#include <torch/types.h>

#include <utility>

namespace medseg::models::kernels {

/// Mean and biased variance of every row, both (R) float64. Accumulates
/// deviations from the row's first value, so a large common offset (raw CT
/// intensities) costs no precision.
std::pair<torch::Tensor, torch::Tensor> row_moments(const torch::Tensor& x, int64_t rows);

/// Σ dy and Σ dy·(x − mean_r) of every row, both (R) float64. `mean`: (R), any
/// floating dtype.
std::pair<torch::Tensor, torch::Tensor> row_grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                      const torch::Tensor& mean, int64_t rows);

/// out = a_r·dy + b_r·(x − mean_r) + c_r elementwise, in x's dtype and shape;
/// a, b, c, mean: (R), any floating dtype.
torch::Tensor row_affine_combination(const torch::Tensor& dy, const torch::Tensor& x,
                                     const torch::Tensor& mean, const torch::Tensor& a,
                                     const torch::Tensor& b, const torch::Tensor& c, int64_t rows);

}  // namespace medseg::models::kernels
