#include "models/batch_norm_kernels.h"

// This file is compiled with OpenMP (see models/CMakeLists.txt): ATen's
// at::parallel_for is a header template that runs serially in translation
// units compiled without it. It includes ATen only, not torch/torch.h.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "core/error.h"

// GCC on x86-64: compile the marked functions for several instruction sets
// and pick one at load time (ifunc). The arithmetic is spelled out with GCC
// vector types, so every variant does the same IEEE operations in the same
// order (the file is built with -ffp-contract=off): results do not depend on
// the CPU.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MEDSEG_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MEDSEG_TARGET_CLONES
#endif
#define MEDSEG_ALWAYS_INLINE inline __attribute__((always_inline))

// The 64-byte vector helpers are always inlined, so the ABI note GCC gives
// for passing them by value does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace medseg::models::kernels {

namespace {

using at::Tensor;

// 8 float64 lanes; two of them give 16 independent accumulators.
typedef double Double8 __attribute__((vector_size(64)));
typedef float Float8 __attribute__((vector_size(32)));

// Loads x[0..7] as float64 lanes.
template <typename T>
MEDSEG_ALWAYS_INLINE Double8 load8(const T* x) {
  if constexpr (std::is_same_v<T, float>) {
    Float8 f;
    std::memcpy(&f, x, sizeof f);
    return __builtin_convertvector(f, Double8);
  } else {
    Double8 d;
    std::memcpy(&d, x, sizeof d);
    return d;
  }
}

MEDSEG_ALWAYS_INLINE double lane_sum(Double8 a, Double8 b) {
  double t = 0.0;
  for (int j = 0; j < 8; ++j) t += a[j];
  for (int j = 0; j < 8; ++j) t += b[j];
  return t;
}

template <typename T>
MEDSEG_ALWAYS_INLINE void shifted_sums_impl(const T* x, int64_t n, double shift, double* s1_out, double* s2_out) {
  const Double8 c = Double8{} + shift;
  Double8 s1a{}, s1b{}, s2a{}, s2b{};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const Double8 da = load8(x + i) - c;
    const Double8 db = load8(x + i + 8) - c;
    s1a += da;
    s1b += db;
    s2a += da * da;
    s2b += db * db;
  }
  double t1 = lane_sum(s1a, s1b);
  double t2 = lane_sum(s2a, s2b);
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    t1 += d;
    t2 += d * d;
  }
  *s1_out = t1;
  *s2_out = t2;
}

template <typename T>
MEDSEG_ALWAYS_INLINE void grad_sums_impl(const T* dy, const T* x, int64_t n, double mean, double* sum_dy_out,
                                         double* sum_dy_xc_out) {
  const Double8 m = Double8{} + mean;
  Double8 s1a{}, s1b{}, s2a{}, s2b{};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const Double8 ga = load8(dy + i);
    const Double8 gb = load8(dy + i + 8);
    s1a += ga;
    s1b += gb;
    s2a += ga * (load8(x + i) - m);
    s2b += gb * (load8(x + i + 8) - m);
  }
  double t1 = lane_sum(s1a, s1b);
  double t2 = lane_sum(s2a, s2b);
  for (; i < n; ++i) {
    const double g = static_cast<double>(dy[i]);
    t1 += g;
    t2 += g * (static_cast<double>(x[i]) - mean);
  }
  *sum_dy_out = t1;
  *sum_dy_xc_out = t2;
}

template <typename T>
MEDSEG_ALWAYS_INLINE void affine_combination_impl(const T* __restrict dy, const T* __restrict x, int64_t n, T a,
                                                  T b, T c, T mean, T* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a * dy[i] + b * (x[i] - mean) + c;
}

MEDSEG_TARGET_CLONES void shifted_sums(const float* x, int64_t n, double shift, double* s1, double* s2) {
  shifted_sums_impl(x, n, shift, s1, s2);
}
MEDSEG_TARGET_CLONES void shifted_sums(const double* x, int64_t n, double shift, double* s1, double* s2) {
  shifted_sums_impl(x, n, shift, s1, s2);
}
MEDSEG_TARGET_CLONES void grad_sums(const float* dy, const float* x, int64_t n, double mean, double* s1,
                                    double* s2) {
  grad_sums_impl(dy, x, n, mean, s1, s2);
}
MEDSEG_TARGET_CLONES void grad_sums(const double* dy, const double* x, int64_t n, double mean, double* s1,
                                    double* s2) {
  grad_sums_impl(dy, x, n, mean, s1, s2);
}
MEDSEG_TARGET_CLONES void affine_combination(const float* dy, const float* x, int64_t n, float a, float b,
                                             float c, float mean, float* out) {
  affine_combination_impl(dy, x, n, a, b, c, mean, out);
}
MEDSEG_TARGET_CLONES void affine_combination(const double* dy, const double* x, int64_t n, double a, double b,
                                             double c, double mean, double* out) {
  affine_combination_impl(dy, x, n, a, b, c, mean, out);
}

void check_operand(const char* what, const Tensor& t, int64_t rows, c10::ScalarType type) {
  const bool floating = type == at::kFloat || type == at::kDouble;
  if (!t.defined() || !floating || !t.is_contiguous() || t.device().type() != c10::kCPU ||
      t.scalar_type() != type || rows <= 0 || t.numel() % rows != 0) {
    std::ostringstream message;
    message << "batch norm kernels: " << what << " must be a contiguous CPU tensor of "
            << (floating ? c10::toString(type) : "Float or Double") << " with a multiple of " << rows
            << " elements, got ";
    if (t.defined()) {
      message << c10::toString(t.scalar_type()) << " of shape " << t.sizes()
              << (t.is_contiguous() ? "" : " (not contiguous)");
    } else {
      message << "an undefined tensor";
    }
    throw ModelError(message.str());
  }
}

// Spreads rows over threads; small rows are grouped so each task has work.
template <typename F>
void for_each_row(int64_t rows, int64_t length, F&& body) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, length));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) body(r);
  });
}

Tensor per_row_values(const Tensor& t, int64_t rows, c10::ScalarType type) {
  Tensor v = t.detach().to(type).contiguous();
  if (v.numel() != rows) {
    std::ostringstream message;
    message << "batch norm kernels: expected " << rows << " per-row values, got shape " << t.sizes();
    throw ModelError(message.str());
  }
  return v;
}

}  // namespace

std::pair<Tensor, Tensor> row_moments(const Tensor& x, int64_t rows) {
  const auto type = x.scalar_type();
  check_operand("x", x, rows, type);
  const int64_t length = x.numel() / rows;
  Tensor mean = at::empty({rows}, at::kDouble);
  Tensor var = at::empty({rows}, at::kDouble);
  double* m = mean.data_ptr<double>();
  double* v = var.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(type, "medseg_row_moments", [&] {
    const scalar_t* data = x.data_ptr<scalar_t>();
    for_each_row(rows, length, [&](int64_t r) {
      const scalar_t* row = data + r * length;
      const double shift = length > 0 ? static_cast<double>(row[0]) : 0.0;
      double s1 = 0.0;
      double s2 = 0.0;
      shifted_sums(row, length, shift, &s1, &s2);
      const double n = static_cast<double>(std::max<int64_t>(length, 1));
      const double d = s1 / n;
      m[r] = shift + d;
      v[r] = std::max(0.0, s2 / n - d * d);
    });
  });
  return {mean, var};
}

std::pair<Tensor, Tensor> row_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, int64_t rows) {
  const auto type = x.scalar_type();
  check_operand("x", x, rows, type);
  check_operand("dy", dy, rows, type);
  const int64_t length = x.numel() / rows;
  const Tensor means = per_row_values(mean, rows, at::kDouble);
  Tensor sum_dy = at::empty({rows}, at::kDouble);
  Tensor sum_dy_xc = at::empty({rows}, at::kDouble);
  const double* mu = means.data_ptr<double>();
  double* s1 = sum_dy.data_ptr<double>();
  double* s2 = sum_dy_xc.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(type, "medseg_row_grad_sums", [&] {
    const scalar_t* g = dy.data_ptr<scalar_t>();
    const scalar_t* data = x.data_ptr<scalar_t>();
    for_each_row(rows, length, [&](int64_t r) {
      grad_sums(g + r * length, data + r * length, length, mu[r], s1 + r, s2 + r);
    });
  });
  return {sum_dy, sum_dy_xc};
}

Tensor row_affine_combination(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& a,
                              const Tensor& b, const Tensor& c, int64_t rows) {
  const auto type = x.scalar_type();
  check_operand("x", x, rows, type);
  check_operand("dy", dy, rows, type);
  const int64_t length = x.numel() / rows;
  const Tensor coefficients = at::stack({per_row_values(a, rows, type), per_row_values(b, rows, type),
                                            per_row_values(c, rows, type), per_row_values(mean, rows, type)},
                                           1)
                                  .contiguous();
  Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(type, "medseg_row_affine_combination", [&] {
    const scalar_t* g = dy.data_ptr<scalar_t>();
    const scalar_t* data = x.data_ptr<scalar_t>();
    const scalar_t* k = coefficients.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for_each_row(rows, length, [&](int64_t r) {
      const int64_t at = r * length;
      affine_combination(g + at, data + at, length, k[4 * r], k[4 * r + 1], k[4 * r + 2], k[4 * r + 3], o + at);
    });
  });
  return out;
}

}  // namespace medseg::models::kernels
