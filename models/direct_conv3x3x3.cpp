#include "models/direct_conv3x3x3.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <array>
#include <cstdint>

#include "models/check.h"
#include "models/cpu_features.h"

namespace medseg::models {
namespace {

// The functions below are compiled for AVX2 + FMA whatever the build's
// -march, so the same binary still starts on CPUs without them; callers
// check direct_conv_available() first.
#define MEDSEG_AVX2 __attribute__((target("avx2,fma")))

/// The 9 (kd, kh) input rows of one output row; null where they fall in the
/// zero padding.
using Rows = std::array<const float*, 9>;

/// The input's geometry as the inner loops read it: channel c of block b at
/// x is row + b * block_stride + x * CPB + c, where CPB (channels per block,
/// 8, or 1 for one plain channel) is a template parameter: as a constant it
/// makes every broadcast address an immediate offset.
struct Input {
  int64_t blocks, block_stride;
};

MEDSEG_AVX2 inline __m256 leaky_relu(__m256 v, __m256 slope) {
  const __m256 zero = _mm256_setzero_ps();
  return _mm256_add_ps(_mm256_max_ps(v, zero), _mm256_mul_ps(slope, _mm256_min_ps(v, zero)));
}

/// Eight outputs stored as float32, or rounded to bfloat16 (to nearest,
/// ties to even, as LibTorch and oneDNN round; NaN is not special-cased:
/// the network's activations are finite).
MEDSEG_AVX2 inline void store8(float* out, __m256 v) { _mm256_storeu_ps(out, v); }
MEDSEG_AVX2 inline void store8(std::uint16_t* out, __m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i high = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), packed);
}

/// UR consecutive output voxels from x0 on, none of them at the x border (all
/// three kw taps are inside the row), OB output blocks of 8 channels:
/// UR * OB accumulators, OB weight vectors and one broadcast per OB FMAs.
template <int OB, int CPB, int UR, typename Out>
MEDSEG_AVX2 void interior_block(const DirectConvArgs& a, const Input& in, const Rows& rows, int64_t x0,
                                Out* out, int64_t out_block_stride) {
  __m256 acc[OB][UR];
#pragma GCC unroll 2
  for (int o = 0; o < OB; ++o) {
    const __m256 bias = _mm256_loadu_ps(a.bias + 8 * o);
#pragma GCC unroll 16
    for (int j = 0; j < UR; ++j) acc[o][j] = bias;
  }
  for (int t = 0; t < 9; ++t) {
    if (rows[t] == nullptr) continue;
    for (int kw = 0; kw < 3; ++kw) {
      const float* w = a.weights + (t * 3 + kw) * a.in_channels * 8 * OB;
      for (int64_t b = 0; b < in.blocks; ++b) {
        const float* src = rows[t] + b * in.block_stride + (x0 + kw - 1) * CPB;
        for (int c = 0; c < CPB; ++c) {
          const float* wc = w + (b * CPB + c) * 8 * OB;
          __m256 wv[OB];
#pragma GCC unroll 2
          for (int o = 0; o < OB; ++o) wv[o] = _mm256_loadu_ps(wc + 8 * o);
#pragma GCC unroll 16
          for (int j = 0; j < UR; ++j) {
            const __m256 v = _mm256_broadcast_ss(src + j * CPB + c);
#pragma GCC unroll 2
            for (int o = 0; o < OB; ++o) acc[o][j] = _mm256_fmadd_ps(v, wv[o], acc[o][j]);
          }
        }
      }
    }
  }
  const __m256 slope = _mm256_set1_ps(a.negative_slope);
#pragma GCC unroll 2
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 16
    for (int j = 0; j < UR; ++j) store8(out + o * out_block_stride + (x0 + j) * 8, leaky_relu(acc[o][j], slope));
  }
}

/// One output voxel at any x, taps outside the row skipped (the padding).
template <int OB, int CPB, typename Out>
MEDSEG_AVX2 void border_voxel(const DirectConvArgs& a, const Input& in, const Rows& rows, int64_t x, Out* out,
                              int64_t out_block_stride) {
  __m256 acc[OB];
  for (int o = 0; o < OB; ++o) acc[o] = _mm256_loadu_ps(a.bias + 8 * o);
  for (int t = 0; t < 9; ++t) {
    if (rows[t] == nullptr) continue;
    for (int kw = 0; kw < 3; ++kw) {
      const int64_t xi = x + kw - 1;
      if (xi < 0 || xi >= a.width) continue;
      const float* w = a.weights + (t * 3 + kw) * a.in_channels * 8 * OB;
      for (int64_t ic = 0; ic < a.in_channels; ++ic) {
        const __m256 v = _mm256_broadcast_ss(rows[t] + (ic / CPB) * in.block_stride + xi * CPB + ic % CPB);
        for (int o = 0; o < OB; ++o) acc[o] = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + (ic * OB + o) * 8), acc[o]);
      }
    }
  }
  const __m256 slope = _mm256_set1_ps(a.negative_slope);
  for (int o = 0; o < OB; ++o) store8(out + o * out_block_stride + x * 8, leaky_relu(acc[o], slope));
}

/// The last n < UR voxels of a row's interior.
template <int OB, int CPB, int UR, typename Out>
MEDSEG_AVX2 void tail(const DirectConvArgs& a, const Input& in, const Rows& rows, int64_t x0, int64_t n, Out* out,
                      int64_t out_block_stride) {
  if constexpr (UR > 0) {
    if (n == UR) return interior_block<OB, CPB, UR, Out>(a, in, rows, x0, out, out_block_stride);
    tail<OB, CPB, UR - 1, Out>(a, in, rows, x0, n, out, out_block_stride);
  }
}

template <int OB, int CPB, typename Out>
MEDSEG_AVX2 void output_row(const DirectConvArgs& a, const Input& in, int64_t n, int64_t z, int64_t y) {
  constexpr int kBlock = 12 / OB;  // 12 accumulators + OB weights + 1 broadcast of 16 ymm registers
  Rows rows{};
  for (int kd = 0; kd < 3; ++kd) {
    for (int kh = 0; kh < 3; ++kh) {
      const int64_t zi = z + kd - 1, yi = y + kh - 1;
      const bool inside = zi >= 0 && zi < a.depth && yi >= 0 && yi < a.height;
      rows[kd * 3 + kh] = inside ? a.input + n * a.batch_stride + (zi * a.height + yi) * a.width * CPB : nullptr;
    }
  }
  const int64_t out_block_stride = a.depth * a.height * a.width * 8;
  Out* out = static_cast<Out*>(a.output) + n * OB * out_block_stride + (z * a.height + y) * a.width * 8;
  int64_t x = 1;
  for (; x + kBlock <= a.width - 1; x += kBlock) {
    interior_block<OB, CPB, kBlock, Out>(a, in, rows, x, out, out_block_stride);
  }
  if (x < a.width - 1) tail<OB, CPB, kBlock - 1, Out>(a, in, rows, x, a.width - 1 - x, out, out_block_stride);
  border_voxel<OB, CPB, Out>(a, in, rows, 0, out, out_block_stride);
  if (a.width > 1) border_voxel<OB, CPB, Out>(a, in, rows, a.width - 1, out, out_block_stride);
}

#undef MEDSEG_AVX2

}  // namespace

bool direct_conv_available() {
  const CpuFeatures& cpu = cpu_features();
  return cpu.avx2 && cpu.fma;
}

bool direct_conv_fits(int64_t in_channels, int64_t out_channels) {
  return (in_channels == 1 || (in_channels > 0 && in_channels % 8 == 0)) && (out_channels == 8 || out_channels == 16);
}

std::vector<float> pack_direct_conv_weights(const float* weight, int64_t out_channels, int64_t in_channels) {
  std::vector<float> packed(static_cast<size_t>(27 * in_channels * out_channels));
  for (int64_t o = 0; o < out_channels; ++o) {
    for (int64_t ic = 0; ic < in_channels; ++ic) {
      for (int64_t tap = 0; tap < 27; ++tap) {  // kd * 9 + kh * 3 + kw in both orders
        packed[static_cast<size_t>((tap * in_channels + ic) * out_channels + o)] =
            weight[(o * in_channels + ic) * 27 + tap];
      }
    }
  }
  return packed;
}

void direct_conv(const DirectConvArgs& a) {
  MEDSEG_CHECK(direct_conv_available(), "direct_conv needs AVX2 and FMA");
  MEDSEG_CHECK(direct_conv_fits(a.in_channels, a.out_channels), "direct_conv: ", a.in_channels, " -> ",
               a.out_channels, " channels is not one of its layers (1 or 8k -> 8 or 16)");
  const bool plain = a.in_channels == 1;
  const Input in{plain ? 1 : a.in_channels / 8, a.block_stride};
  using Row = void (*)(const DirectConvArgs&, const Input&, int64_t, int64_t, int64_t);
  // [bf16 output][16 outputs][one plain input channel]
  static constexpr Row kRows[2][2][2] = {
      {{&output_row<1, 8, float>, &output_row<1, 1, float>}, {&output_row<2, 8, float>, &output_row<2, 1, float>}},
      {{&output_row<1, 8, std::uint16_t>, &output_row<1, 1, std::uint16_t>},
       {&output_row<2, 8, std::uint16_t>, &output_row<2, 1, std::uint16_t>}}};
  const Row row = kRows[a.bf16_output ? 1 : 0][a.out_channels == 16 ? 1 : 0][plain ? 1 : 0];
  const int64_t rows = a.batch * a.depth * a.height;
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row(a, in, r / (a.depth * a.height), (r / a.height) % a.depth, r % a.height);
  });
}

}  // namespace medseg::models
