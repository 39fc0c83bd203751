#include "models/direct_conv_oc8.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <array>

#include "models/check.h"
#include "models/cpu_features.h"

namespace medseg::models {
namespace {

// The functions below are compiled for AVX2 + FMA whatever the build's
// -march, so the same binary still starts on CPUs without them; callers
// check direct_conv_oc8_available() first.
#define MEDSEG_AVX2 __attribute__((target("avx2,fma")))

/// The 9 (kd, kh) input rows of one output row; null where they fall in the
/// zero padding.
using Rows = std::array<const float*, 9>;

MEDSEG_AVX2 inline __m256 leaky_relu(__m256 v, __m256 slope) {
  const __m256 zero = _mm256_setzero_ps();
  return _mm256_add_ps(_mm256_max_ps(v, zero), _mm256_mul_ps(slope, _mm256_min_ps(v, zero)));
}

/// UR consecutive output voxels from x0 on, none of them at the x border (all
/// three kw taps are inside the row): UR accumulators of 8 channels, one
/// weight vector and one broadcast per FMA.
template <int UR>
MEDSEG_AVX2 void interior_block(const DirectConvOc8Args& a, const Rows& rows, int64_t x0, float* out) {
  __m256 acc[UR];
  const __m256 bias = _mm256_loadu_ps(a.bias);
#pragma GCC unroll 16
  for (int j = 0; j < UR; ++j) acc[j] = bias;
  const int64_t blocks = a.in_channels / 8;
  for (int t = 0; t < 9; ++t) {
    if (rows[t] == nullptr) continue;
    for (int kw = 0; kw < 3; ++kw) {
      const float* w = a.weights + (t * 3 + kw) * a.in_channels * 8;
      for (int64_t b = 0; b < blocks; ++b) {
        const float* src = rows[t] + b * a.block_stride + (x0 + kw - 1) * 8;
        for (int c = 0; c < 8; ++c) {
          const __m256 wv = _mm256_loadu_ps(w + (b * 8 + c) * 8);
#pragma GCC unroll 16
          for (int j = 0; j < UR; ++j) acc[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(src + j * 8 + c), wv, acc[j]);
        }
      }
    }
  }
  const __m256 slope = _mm256_set1_ps(a.negative_slope);
#pragma GCC unroll 16
  for (int j = 0; j < UR; ++j) _mm256_storeu_ps(out + (x0 + j) * 8, leaky_relu(acc[j], slope));
}

/// One output voxel at any x, taps outside the row skipped (the padding).
MEDSEG_AVX2 void border_voxel(const DirectConvOc8Args& a, const Rows& rows, int64_t x, float* out) {
  __m256 acc = _mm256_loadu_ps(a.bias);
  for (int t = 0; t < 9; ++t) {
    if (rows[t] == nullptr) continue;
    for (int kw = 0; kw < 3; ++kw) {
      const int64_t xi = x + kw - 1;
      if (xi < 0 || xi >= a.width) continue;
      const float* w = a.weights + (t * 3 + kw) * a.in_channels * 8;
      for (int64_t ic = 0; ic < a.in_channels; ++ic) {
        const float* src = rows[t] + (ic / 8) * a.block_stride + xi * 8 + ic % 8;
        acc = _mm256_fmadd_ps(_mm256_broadcast_ss(src), _mm256_loadu_ps(w + ic * 8), acc);
      }
    }
  }
  _mm256_storeu_ps(out + x * 8, leaky_relu(acc, _mm256_set1_ps(a.negative_slope)));
}

template <int UR>
MEDSEG_AVX2 void tail(const DirectConvOc8Args& a, const Rows& rows, int64_t x0, int64_t n, float* out) {
  if constexpr (UR > 0) {
    if (n == UR) return interior_block<UR>(a, rows, x0, out);
    tail<UR - 1>(a, rows, x0, n, out);
  }
}

constexpr int kBlock = 12;  // accumulators: 12 + weight + broadcast of 16 ymm registers

MEDSEG_AVX2 void output_row(const DirectConvOc8Args& a, int64_t n, int64_t z, int64_t y) {
  Rows rows{};
  for (int kd = 0; kd < 3; ++kd) {
    for (int kh = 0; kh < 3; ++kh) {
      const int64_t zi = z + kd - 1, yi = y + kh - 1;
      const bool inside = zi >= 0 && zi < a.depth && yi >= 0 && yi < a.height;
      rows[kd * 3 + kh] = inside ? a.input + n * a.batch_stride + (zi * a.height + yi) * a.width * 8 : nullptr;
    }
  }
  float* out = a.output + ((n * a.depth + z) * a.height + y) * a.width * 8;
  int64_t x = 1;
  for (; x + kBlock <= a.width - 1; x += kBlock) interior_block<kBlock>(a, rows, x, out);
  if (x < a.width - 1) tail<kBlock - 1>(a, rows, x, a.width - 1 - x, out);
  border_voxel(a, rows, 0, out);
  if (a.width > 1) border_voxel(a, rows, a.width - 1, out);
}

#undef MEDSEG_AVX2

}  // namespace

bool direct_conv_oc8_available() {
  const CpuFeatures& cpu = cpu_features();
  return cpu.avx2 && cpu.fma;
}

std::vector<float> pack_direct_conv_oc8_weights(const float* weight, int64_t in_channels) {
  std::vector<float> packed(static_cast<size_t>(27 * in_channels * 8));
  for (int64_t o = 0; o < 8; ++o) {
    for (int64_t ic = 0; ic < in_channels; ++ic) {
      for (int64_t tap = 0; tap < 27; ++tap) {  // kd * 9 + kh * 3 + kw, as in both orders
        packed[static_cast<size_t>((tap * in_channels + ic) * 8 + o)] = weight[(o * in_channels + ic) * 27 + tap];
      }
    }
  }
  return packed;
}

void direct_conv_oc8(const DirectConvOc8Args& a) {
  MEDSEG_CHECK(direct_conv_oc8_available(), "direct_conv_oc8 needs AVX2 and FMA");
  MEDSEG_CHECK(a.in_channels > 0 && a.in_channels % 8 == 0, "direct_conv_oc8: input channels must be a multiple of 8, got ",
               a.in_channels);
  const int64_t rows = a.batch * a.depth * a.height;
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) output_row(a, r / (a.depth * a.height), (r / a.height) % a.depth, r % a.height);
  });
}

}  // namespace medseg::models
