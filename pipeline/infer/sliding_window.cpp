#include "pipeline/infer/sliding_window.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"

namespace medseg::pipeline {

std::vector<std::int64_t> window_starts(std::int64_t size, std::int64_t patch, double overlap) {
  if (patch <= 0) throw ConfigError("patch size must be positive");
  if (overlap < 0.0 || overlap >= 1.0) throw ConfigError("overlap must be in [0, 1)");
  if (size <= patch) return {0};
  const double step = static_cast<double>(patch) * (1.0 - overlap);
  const auto steps =
      static_cast<std::int64_t>(std::ceil(static_cast<double>(size - patch) / std::max(step, 1.0))) + 1;
  const double actual = static_cast<double>(size - patch) / static_cast<double>(steps - 1);
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s < steps; ++s) starts.push_back(std::llround(actual * static_cast<double>(s)));
  return starts;
}

at::Tensor gaussian_weights_1d(std::int64_t patch, double sigma_scale) {
  const double sigma = static_cast<double>(patch) * sigma_scale;
  at::Tensor x = at::arange(patch, at::kDouble) - static_cast<double>(patch / 2);
  at::Tensor w = at::exp(-0.5 * (x / sigma).pow(2));
  w = w / w.max();
  const double floor = w.masked_select(w > 0).min().item<double>();
  return w.clamp_min(floor).to(at::kFloat);
}

at::Tensor sliding_window_predict(const at::Tensor& image_in, const Predictor& predictor,
                                  const SlidingWindowOptions& o) {
  TORCH_CHECK(image_in.dim() == 4, "sliding_window_predict expects (C, D, H, W), got ", image_in.sizes());
  // Pad volumes smaller than the patch (at the end, with zeros) and crop back.
  const std::array<std::int64_t, 3> size{image_in.size(3), image_in.size(2), image_in.size(1)};
  std::array<std::int64_t, 3> padded{};
  std::vector<std::int64_t> pad;  // constant_pad_nd order: last dim first
  for (int axis = 0; axis < 3; ++axis) {
    padded[axis] = std::max(size[axis], o.patch_size[axis]);
    pad.push_back(0);
    pad.push_back(padded[axis] - size[axis]);
  }
  const at::Tensor image = at::constant_pad_nd(image_in, pad, 0.0);

  std::array<std::vector<std::int64_t>, 3> starts;
  std::array<at::Tensor, 3> weights, weight_sums;
  for (int axis = 0; axis < 3; ++axis) {
    starts[axis] = window_starts(padded[axis], o.patch_size[axis], o.overlap);
    weights[axis] = o.gaussian ? gaussian_weights_1d(o.patch_size[axis]) : at::ones({o.patch_size[axis]});
    weight_sums[axis] = at::zeros({padded[axis]});
    for (auto s : starts[axis]) weight_sums[axis].slice(0, s, s + o.patch_size[axis]).add_(weights[axis]);
  }
  // (pd, ph, pw) importance map as an outer product.
  const at::Tensor window_weight =
      weights[2].view({-1, 1, 1}) * weights[1].view({1, -1, 1}) * weights[0].view({1, 1, -1});

  struct Window {
    std::int64_t i, j, k;
  };
  std::vector<Window> windows;
  for (auto k : starts[2]) {
    for (auto j : starts[1]) {
      for (auto i : starts[0]) windows.push_back({i, j, k});
    }
  }
  at::Tensor accumulator;  // (K, D, H, W), allocated once K is known
  const auto n = static_cast<std::int64_t>(windows.size());
  for (std::int64_t first = 0; first < n; first += o.windows_per_batch) {
    const std::int64_t last = std::min(n, first + o.windows_per_batch);
    std::vector<at::Tensor> inputs;
    for (std::int64_t w = first; w < last; ++w) {
      const auto& win = windows[static_cast<std::size_t>(w)];
      inputs.push_back(image.slice(1, win.k, win.k + o.patch_size[2])
                           .slice(2, win.j, win.j + o.patch_size[1])
                           .slice(3, win.i, win.i + o.patch_size[0]));
    }
    const at::Tensor batch = at::stack(inputs);
    at::Tensor logits;
    if (o.mirror) {
      // All 8 flip combinations of the three spatial axes, flipped back.
      for (int mask = 0; mask < 8; ++mask) {
        std::vector<std::int64_t> dims;
        for (int axis = 0; axis < 3; ++axis) {
          if (mask & (1 << axis)) dims.push_back(4 - axis);
        }
        at::Tensor out = dims.empty() ? predictor(batch) : predictor(batch.flip(dims)).flip(dims);
        out = out.to(at::kFloat);
        logits = logits.defined() ? logits.add_(out) : out;
      }
      logits.div_(8.0);
    } else {
      logits = predictor(batch).to(at::kFloat);
    }
    if (!accumulator.defined()) {
      accumulator = at::zeros({logits.size(1), padded[2], padded[1], padded[0]}, at::kFloat);
    }
    for (std::int64_t w = first; w < last; ++w) {
      const auto& win = windows[static_cast<std::size_t>(w)];
      accumulator.slice(1, win.k, win.k + o.patch_size[2])
          .slice(2, win.j, win.j + o.patch_size[1])
          .slice(3, win.i, win.i + o.patch_size[0])
          .add_(logits[w - first] * window_weight);
    }
    if (o.progress && !o.progress(static_cast<double>(last) / static_cast<double>(n))) {
      throw Cancelled("sliding-window inference cancelled");
    }
  }
  // Divide by the separable weight sum, one axis at a time (in place).
  accumulator.div_(weight_sums[2].view({1, -1, 1, 1}));
  accumulator.div_(weight_sums[1].view({1, 1, -1, 1}));
  accumulator.div_(weight_sums[0].view({1, 1, 1, -1}));
  return accumulator.slice(1, 0, size[2]).slice(2, 0, size[1]).slice(3, 0, size[0]).contiguous();
}

}  // namespace medseg::pipeline
