#include "pipeline/preprocess/label_resample_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace medseg::pipeline {

AxisTaps linear_taps(double first, double step, std::int64_t count, std::int64_t size, std::int64_t stride) {
  AxisTaps taps;
  taps.lo.resize(static_cast<std::size_t>(count));
  taps.hi.resize(static_cast<std::size_t>(count));
  taps.w.resize(static_cast<std::size_t>(count));
  taps.inside.resize(static_cast<std::size_t>(count));
  for (std::int64_t t = 0; t < count; ++t) {
    const auto u = static_cast<std::size_t>(t);
    const double c = first + static_cast<double>(t) * step;
    taps.inside[u] = c >= -0.5 && c < static_cast<double>(size) - 0.5;
    // Below 0 and above size - 1 the border voxel alone counts.
    const std::int64_t lo = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(c)), 0, size - 1);
    const double w = c - static_cast<double>(lo);
    const bool single = w <= 0.0 || lo + 1 > size - 1;
    taps.lo[u] = lo * stride;
    taps.hi[u] = (single ? lo : lo + 1) * stride;
    taps.w[u] = single ? 0.0 : w;
  }
  return taps;
}

at::Tensor label_indices(const at::Tensor& labels_in, const std::vector<std::int16_t>& values) {
  TORCH_CHECK(labels_in.scalar_type() == at::kShort, "label values must be int16");
  TORCH_CHECK(!values.empty() && values.size() <= 256, "1 to 256 labels expected, got ", values.size());
  std::vector<std::uint8_t> lookup(65536, 0);
  for (std::size_t k = 0; k < values.size(); ++k) lookup[static_cast<std::uint16_t>(values[k])] = static_cast<std::uint8_t>(k);
  const at::Tensor labels = labels_in.contiguous();
  at::Tensor index = at::empty(labels.sizes(), at::kByte);
  const std::int16_t* src = labels.data_ptr<std::int16_t>();
  std::uint8_t* dst = index.data_ptr<std::uint8_t>();
  at::parallel_for(0, labels.numel(), 1 << 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) dst[i] = lookup[static_cast<std::uint16_t>(src[i])];
  });
  return index;
}

at::Tensor resample_label_indices(const at::Tensor& index_in, const std::array<AxisTaps, 3>& taps,
                                  const std::vector<std::int16_t>& values, std::int16_t outside) {
  TORCH_CHECK(index_in.dim() == 3 && index_in.scalar_type() == at::kByte, "label indices must be uint8 (D, H, W)");
  TORCH_CHECK(!values.empty() && values.size() <= 256, "1 to 256 labels expected, got ", values.size());
  const at::Tensor index = index_in.contiguous();
  const auto nx = static_cast<std::int64_t>(taps[0].lo.size());
  const auto ny = static_cast<std::int64_t>(taps[1].lo.size());
  const auto nz = static_cast<std::int64_t>(taps[2].lo.size());
  at::Tensor out = at::empty({nz, ny, nx}, at::kShort);
  const std::uint8_t* src = index.data_ptr<std::uint8_t>();
  std::int16_t* dst = out.data_ptr<std::int16_t>();
  const auto& tx = taps[0];
  const auto& ty = taps[1];
  const auto& tz = taps[2];

  // Target voxels along x come in runs that read the same two source
  // columns; where the 8 source labels agree (most of a volume) the whole run
  // takes that label without scoring.
  struct Run {
    std::int64_t begin, end, lo, hi;
    bool inside;
  };
  std::vector<Run> runs;
  for (std::int64_t x = 0; x < nx; ++x) {
    const auto ux = static_cast<std::size_t>(x);
    const bool inside = tx.inside[ux] != 0;
    if (runs.empty() || runs.back().lo != tx.lo[ux] || runs.back().hi != tx.hi[ux] || runs.back().inside != inside) {
      runs.push_back({x, x + 1, tx.lo[ux], tx.hi[ux], inside});
    } else {
      runs.back().end = x + 1;
    }
  }

  // One slab of target slices per thread; every voxel is written once.
  at::parallel_for(0, nz, 1, [&](std::int64_t z_begin, std::int64_t z_end) {
    std::vector<double> score(values.size());
    for (std::int64_t z = z_begin; z < z_end; ++z) {
      const auto uz = static_cast<std::size_t>(z);
      std::int16_t* slice = dst + z * ny * nx;
      if (!tz.inside[uz]) {
        std::fill(slice, slice + ny * nx, outside);
        continue;
      }
      const double wz = tz.w[uz];
      for (std::int64_t y = 0; y < ny; ++y) {
        const auto uy = static_cast<std::size_t>(y);
        std::int16_t* row = slice + y * nx;
        if (!ty.inside[uy]) {
          std::fill(row, row + nx, outside);
          continue;
        }
        const double wy = ty.w[uy];
        const std::uint8_t* r00 = src + tz.lo[uz] + ty.lo[uy];
        const std::uint8_t* r01 = src + tz.lo[uz] + ty.hi[uy];
        const std::uint8_t* r10 = src + tz.hi[uz] + ty.lo[uy];
        const std::uint8_t* r11 = src + tz.hi[uz] + ty.hi[uy];
        const double w00 = (1.0 - wz) * (1.0 - wy), w01 = (1.0 - wz) * wy;
        const double w10 = wz * (1.0 - wy), w11 = wz * wy;
        for (const Run& run : runs) {
          if (!run.inside) {
            std::fill(row + run.begin, row + run.end, outside);
            continue;
          }
          const std::int64_t x0 = run.lo, x1 = run.hi;
          const std::uint8_t l[8] = {r00[x0], r00[x1], r01[x0], r01[x1], r10[x0], r10[x1], r11[x0], r11[x1]};
          if (l[0] == l[1] && l[0] == l[2] && l[0] == l[3] && l[0] == l[4] && l[0] == l[5] && l[0] == l[6] &&
              l[0] == l[7]) {
            std::fill(row + run.begin, row + run.end, values[l[0]]);
            continue;
          }
          for (std::int64_t x = run.begin; x < run.end; ++x) {
            const double wx = tx.w[static_cast<std::size_t>(x)];
            std::fill(score.begin(), score.end(), 0.0);
            score[l[0]] += w00 * (1.0 - wx);
            score[l[1]] += w00 * wx;
            score[l[2]] += w01 * (1.0 - wx);
            score[l[3]] += w01 * wx;
            score[l[4]] += w10 * (1.0 - wx);
            score[l[5]] += w10 * wx;
            score[l[6]] += w11 * (1.0 - wx);
            score[l[7]] += w11 * wx;
            std::size_t best = 0;
            for (std::size_t k = 1; k < score.size(); ++k) {
              if (score[k] > score[best]) best = k;
            }
            row[x] = values[best];
          }
        }
      }
    }
  });
  return out;
}

namespace {

// Inverse of a 3x3 row-major matrix (cofactors; the grids were checked to
// have non-singular directions when they were read).
std::array<double, 9> inverse3(const std::array<double, 9>& m) {
  const double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  return {c00 / det,
          (m[2] * m[7] - m[1] * m[8]) / det,
          (m[1] * m[5] - m[2] * m[4]) / det,
          c01 / det,
          (m[0] * m[8] - m[2] * m[6]) / det,
          (m[2] * m[3] - m[0] * m[5]) / det,
          c02 / det,
          (m[1] * m[6] - m[0] * m[7]) / det,
          (m[0] * m[4] - m[1] * m[3]) / det};
}

// The distinct values of an int16 volume, ascending (a histogram, not a sort).
std::vector<std::int16_t> present_values(const at::Tensor& labels_in) {
  const at::Tensor labels = labels_in.contiguous();
  const std::int16_t* src = labels.data_ptr<std::int16_t>();
  std::vector<std::uint8_t> seen(65536, 0);
  for (std::int64_t i = 0, n = labels.numel(); i < n; ++i) seen[static_cast<std::uint16_t>(src[i])] = 1;
  std::vector<std::int16_t> values;
  for (int v = -32768; v <= 32767; ++v) {
    if (seen[static_cast<std::uint16_t>(v)]) values.push_back(static_cast<std::int16_t>(v));
  }
  return values;
}

}  // namespace

std::optional<Volume> resample_labels_axis_aligned(const Volume& labels, const Geometry& target) {
  const Geometry& source = labels.geometry;
  // Which source axis each target axis runs along, and which way: exact
  // comparisons, since a reorientation only permutes and negates columns.
  std::array<int, 3> axis_of{-1, -1, -1};
  std::array<double, 3> sign_of{0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3 && axis_of[a] < 0; ++b) {
      for (const double sign : {1.0, -1.0}) {
        bool same = true;
        for (int r = 0; r < 3; ++r) same = same && target.direction_at(r, a) == sign * source.direction_at(r, b);
        if (same) {
          axis_of[a] = b;
          sign_of[a] = sign;
          break;
        }
      }
    }
    if (axis_of[a] < 0) return std::nullopt;
  }
  // Label values as int16 (those outside its range take the ITK path).
  at::Tensor as_int16 = labels.data;
  if (labels.data.scalar_type() != at::kShort) {
    const at::Tensor rounded = labels.data.to(at::kFloat).round();
    const auto [lo, hi] = at::aminmax(rounded);
    if (!(lo.item<float>() >= -32768.0f && hi.item<float>() <= 32767.0f)) return std::nullopt;
    as_int16 = rounded.to(at::kShort);
  }
  const std::vector<std::int16_t> value_list = present_values(as_int16);
  if (value_list.size() > 256) return std::nullopt;
  // Continuous source index of target voxel (0, 0, 0), as ITK computes it:
  // inverse(direction * spacing) applied to the origin difference.
  std::array<double, 9> scaled = source.direction;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) scaled[r * 3 + c] *= source.spacing[c];
  }
  const std::array<double, 9> to_index = inverse3(scaled);
  const std::array<std::int64_t, 3> stride{1, source.size[0], source.size[0] * source.size[1]};
  std::array<AxisTaps, 3> taps;
  for (int a = 0; a < 3; ++a) {
    const int b = axis_of[a];
    double first = 0.0;
    for (int r = 0; r < 3; ++r) first += to_index[b * 3 + r] * (target.origin[r] - source.origin[r]);
    taps[a] = linear_taps(first, sign_of[a] * target.spacing[a] / source.spacing[b], target.size[a], source.size[b],
                          stride[b]);
  }
  // Label numbers 0..K-1 in the order of `values` (sorted), so ties go to
  // the smallest value as in the per-label path.
  const at::Tensor index = label_indices(as_int16, value_list);
  const bool has_background = std::find(value_list.begin(), value_list.end(), 0) != value_list.end();
  const std::int16_t outside = has_background ? value_list.front() : std::int16_t{0};
  Volume out;
  out.geometry = target;
  out.data = resample_label_indices(index, taps, value_list, outside).to(labels.data.scalar_type());
  out.source_path = labels.source_path;
  out.pixel_type = labels.pixel_type;
  out.metadata = labels.metadata;
  return out;
}


}  // namespace medseg::pipeline
