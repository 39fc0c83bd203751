#include "pipeline/preprocess/normalize.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/enum_names.h"
#include "core/error.h"

namespace medseg::pipeline {
namespace {
// Guards the division for constant images (nnU-Net uses the same floor).
constexpr double kMinStd = 1e-8;

constexpr core::EnumNames<NormalizationKind, 5> kKindNames{"normalization recipe",
                                                            {{{NormalizationKind::kCt, "ct"},
                                                              {NormalizationKind::kZscore, "zscore"},
                                                              {NormalizationKind::kWindow, "window"},
                                                              {NormalizationKind::kPercentile, "percentile"},
                                                              {NormalizationKind::kNone, "none"}}}};

}  // namespace

NormalizationKind parse_normalization_kind(std::string_view name) { return kKindNames.parse(name); }

std::string to_string(NormalizationKind kind) { return kKindNames.name(kind); }

void validate(const NormalizationRecipe& r) {
  if (r.kind == NormalizationKind::kWindow && !(r.window_high > r.window_low)) {
    throw ConfigError("normalization window must have window_high > window_low");
  }
  if (r.kind == NormalizationKind::kPercentile &&
      !(r.percentile_low >= 0 && r.percentile_low < r.percentile_high && r.percentile_high <= 100)) {
    throw ConfigError("normalization percentiles must satisfy 0 <= low < high <= 100");
  }
  if (r.kind == NormalizationKind::kCt && !(r.stats.percentile_99_5 >= r.stats.percentile_00_5)) {
    throw ConfigError("ct normalization needs dataset statistics (percentile_99_5 >= percentile_00_5)");
  }
}

double percentile(const at::Tensor& values, double percent) {
  const at::Tensor flat = values.reshape({-1});
  const std::int64_t n = flat.numel();
  if (n == 0) throw ModelError("percentile of an empty set of values");
  const double rank = percent / 100.0 * static_cast<double>(n - 1);
  const auto lo = static_cast<std::int64_t>(std::floor(rank));
  const auto hi = std::min<std::int64_t>(lo + 1, n - 1);
  // kthvalue is O(n), unlike a full sort; it is 1-based.
  const double a = std::get<0>(flat.kthvalue(lo + 1)).item<double>();
  const double b = hi == lo ? a : std::get<0>(flat.kthvalue(hi + 1)).item<double>();
  return a + (b - a) * (rank - static_cast<double>(lo));
}

IntensityStats intensity_stats(const at::Tensor& values) {
  const at::Tensor v = values.reshape({-1}).to(at::kDouble);
  if (v.numel() == 0) throw ModelError("intensity statistics of an empty set of values");
  IntensityStats s;
  s.mean = v.mean().item<double>();
  s.std = v.numel() > 1 ? v.std(/*unbiased=*/false).item<double>() : 0.0;
  s.min = v.min().item<double>();
  s.max = v.max().item<double>();
  s.median = percentile(v, 50.0);
  s.percentile_00_5 = percentile(v, 0.5);
  s.percentile_99_5 = percentile(v, 99.5);
  return s;
}

Normalize::Normalize(NormalizationRecipe recipe) : recipe_(std::move(recipe)) { validate(recipe_); }

Volume Normalize::operator()(const Volume& volume) const {
  // float32 voxels (a 512x512x300 CT would need 630 MB in float64); the
  // statistics are reduced to double scalars.
  Volume out = volume;
  out.data = volume.data.to(at::kFloat).clone(at::MemoryFormat::Contiguous);
  in_place(out.data);
  return out;
}

void Normalize::in_place(at::Tensor x) const {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "normalization works on float32 voxels");
  const NormalizationRecipe& r = recipe_;
  if (r.kind == NormalizationKind::kNone) return;
  if (r.kind == NormalizationKind::kCt) {
    x.clamp_(r.stats.percentile_00_5, r.stats.percentile_99_5).sub_(r.stats.mean).div_(std::max(r.stats.std, kMinStd));
  } else if (r.kind == NormalizationKind::kZscore) {
    if (r.use_nonzero_mask) {
      const at::Tensor mask = x != 0;
      const at::Tensor inside = x.masked_select(mask);
      if (inside.numel() == 0) {
        x.zero_();
        return;
      }
      const double mean = inside.mean().item<double>();
      const double std = inside.std(false).item<double>();
      x.sub_(mean).div_(std::max(std, kMinStd)).masked_fill_(mask.logical_not(), 0.0);
    } else {
      const double mean = x.mean().item<double>();
      const double std = x.std(false).item<double>();
      x.sub_(mean).div_(std::max(std, kMinStd));
    }
  } else if (r.kind == NormalizationKind::kWindow) {
    x.clamp_(r.window_low, r.window_high).sub_(r.window_low).div_(r.window_high - r.window_low);
  } else {  // percentile
    const double lo = percentile(x, r.percentile_low);
    const double hi = percentile(x, r.percentile_high);
    if (hi > lo) {
      x.clamp_(lo, hi).sub_(lo).div_(hi - lo);
    } else {
      x.zero_();
    }
  }
}

}  // namespace medseg::pipeline
