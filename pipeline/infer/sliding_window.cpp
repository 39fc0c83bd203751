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

namespace {

struct Window {
  std::int64_t i, j, k;
};

// The network's logits for a batch, averaged over the 8 mirrorings if asked.
at::Tensor predict_batch(const Predictor& predictor, const at::Tensor& batch, bool mirror) {
  if (!mirror) return predictor(batch).to(at::kFloat);
  at::Tensor logits;
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
  return logits.div_(8.0);
}

}  // namespace

at::Tensor sliding_window_predict(const at::Tensor& image_in, const Predictor& predictor,
                                  const SlidingWindowOptions& o, SlidingWindowStats* stats) {
  TORCH_CHECK(image_in.dim() == 4, "sliding_window_predict expects (C, D, H, W), got ", image_in.sizes());
  const bool skipping = o.body_mask.defined();
  if (skipping) {
    TORCH_CHECK(o.body_mask.sizes() == image_in.sizes().slice(1), "body mask ", o.body_mask.sizes(),
                " does not match the image ", image_in.sizes());
    TORCH_CHECK(o.background.defined() && o.background.numel() == image_in.size(0),
                "a body mask needs one background value per channel");
  }
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
  // Padding is zeros, not background: it counts as body, as the network sees it.
  const at::Tensor body =
      skipping ? at::constant_pad_nd(o.body_mask.to(at::kByte), pad, 1).to(at::kBool) : at::Tensor();

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

  std::vector<Window> windows;
  for (auto k : starts[2]) {
    for (auto j : starts[1]) {
      for (auto i : starts[0]) windows.push_back({i, j, k});
    }
  }
  const auto region = [&](const at::Tensor& t, const Window& win, int first_dim) {
    return t.slice(first_dim, win.k, win.k + o.patch_size[2])
        .slice(first_dim + 1, win.j, win.j + o.patch_size[1])
        .slice(first_dim + 2, win.i, win.i + o.patch_size[0]);
  };
  const auto n = static_cast<std::int64_t>(windows.size());
  std::vector<std::int64_t> to_run;
  std::vector<bool> skip(static_cast<std::size_t>(n), false);
  for (std::int64_t w = 0; w < n; ++w) {
    if (skipping && !region(body, windows[static_cast<std::size_t>(w)], 0).any().item<bool>()) {
      skip[static_cast<std::size_t>(w)] = true;
    } else {
      to_run.push_back(w);
    }
  }
  // (K, pd, ph, pw): the network's weighted logits for a background-only window.
  at::Tensor empty_weighted;
  if (to_run.size() < windows.size()) {
    const at::Tensor empty = o.background.to(at::kFloat)
                                 .view({1, -1, 1, 1, 1})
                                 .expand({1, image.size(0), o.patch_size[2], o.patch_size[1], o.patch_size[0]})
                                 .contiguous();
    empty_weighted = predict_batch(predictor, empty, o.mirror)[0] * window_weight;
  }
  if (stats) *stats = {n, n - static_cast<std::int64_t>(to_run.size())};

  // Windows are added in their order, each once every window before it is
  // known, so skipping changes no floating-point sum but the skipped ones.
  at::Tensor accumulator;  // (K, D, H, W), allocated once K is known
  std::vector<at::Tensor> pending(static_cast<std::size_t>(n));
  std::int64_t next = 0;
  const auto add_ready = [&] {
    for (; next < n; ++next) {
      const auto w = static_cast<std::size_t>(next);
      if (!skip[w] && !pending[w].defined()) break;
      const at::Tensor weighted = skip[w] ? empty_weighted : pending[w] * window_weight;
      if (!accumulator.defined()) {
        accumulator = at::zeros({weighted.size(0), padded[2], padded[1], padded[0]}, at::kFloat);
      }
      region(accumulator, windows[w], 1).add_(weighted);
      pending[w] = at::Tensor();
    }
  };
  const auto runs = static_cast<std::int64_t>(to_run.size());
  for (std::int64_t first = 0; first < runs; first += o.windows_per_batch) {
    const std::int64_t last = std::min(runs, first + o.windows_per_batch);
    std::vector<at::Tensor> inputs;
    for (std::int64_t r = first; r < last; ++r) {
      inputs.push_back(region(image, windows[static_cast<std::size_t>(to_run[static_cast<std::size_t>(r)])], 1));
    }
    const at::Tensor logits = predict_batch(predictor, at::stack(inputs), o.mirror);
    for (std::int64_t r = first; r < last; ++r) {
      pending[static_cast<std::size_t>(to_run[static_cast<std::size_t>(r)])] = logits[r - first];
    }
    add_ready();
    if (o.progress && !o.progress(static_cast<double>(last) / static_cast<double>(runs))) {
      throw Cancelled("sliding-window inference cancelled");
    }
  }
  add_ready();
  if (runs == 0 && o.progress && !o.progress(1.0)) throw Cancelled("sliding-window inference cancelled");
  // Divide by the separable weight sum, one axis at a time (in place).
  accumulator.div_(weight_sums[2].view({1, -1, 1, 1}));
  accumulator.div_(weight_sums[1].view({1, 1, -1, 1}));
  accumulator.div_(weight_sums[0].view({1, 1, 1, -1}));
  return accumulator.slice(1, 0, size[2]).slice(2, 0, size[1]).slice(3, 0, size[0]).contiguous();
}

}  // namespace medseg::pipeline
