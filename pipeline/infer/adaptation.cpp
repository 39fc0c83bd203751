#include "pipeline/infer/adaptation.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "models/autocast.h"
#include "models/domain_batch_norm.h"
#include "pipeline/infer/body_mask.h"
#include "pipeline/random.h"

namespace medseg::pipeline {
namespace {

// The layers an adaptation changes: the first `o.layers` in forward order
// (modules() lists them in registration order, which UNet3d keeps in forward
// order: encoder levels from full resolution down, then the decoder), or all.
std::vector<models::DomainBatchNormImpl*> adapted_layers(torch::nn::Module& model, const AdaptationOptions& o) {
  auto layers = models::domain_batch_norms(model);
  const auto count = static_cast<std::int64_t>(layers.size());
  if (o.layers > count) {
    throw ConfigError("cannot adapt " + std::to_string(o.layers) + " batch-norm layers: the model has " +
                      std::to_string(count));
  }
  if (o.layers > 0) layers.resize(static_cast<std::size_t>(o.layers));
  return layers;
}

void cancel_all(torch::nn::Module& model) {
  for (auto* layer : models::domain_batch_norms(model)) {
    if (layer->is_adapting()) layer->cancel_adaptation();
  }
}

// The windows of sliding-window inference over a volume padded to the patch.
std::vector<AdaptationWindow> sliding_windows(const std::array<std::int64_t, 3>& padded,
                                              const std::array<std::int64_t, 3>& patch, double overlap) {
  std::array<std::vector<std::int64_t>, 3> starts;
  for (int axis = 0; axis < 3; ++axis) starts[axis] = window_starts(padded[axis], patch[axis], overlap);
  std::vector<AdaptationWindow> windows;
  for (auto k : starts[2]) {
    for (auto j : starts[1]) {
      for (auto i : starts[0]) windows.push_back({i, j, k});
    }
  }
  return windows;
}

// Every parameter and buffer of `from` cloned into `to` (same architecture).
void copy_state(const models::UNet3d& from, models::UNet3d& to) {
  at::NoGradGuard no_grad;
  const auto params = from->named_parameters();
  for (auto& p : to->named_parameters()) p.value().set_data(params[p.key()].detach().clone());
  const auto buffers = from->named_buffers();
  for (auto& b : to->named_buffers()) b.value().set_data(buffers[b.key()].detach().clone());
}

bool sampled(const AdaptationOptions& o) { return o.method != AdaptationMethod::kAdaBN; }

void check_options(const AdaptationOptions& o) {
  if (o.windows_per_batch < 1) throw ConfigError("windows per batch must be at least 1");
  if (o.layers < 0) throw ConfigError("the number of adapted layers must not be negative (0 = all)");
  if (sampled(o)) {
    if (o.windows_per_image < 2) throw ConfigError("adaptation needs at least 2 windows per image");
    if (!(o.body_fraction >= 0.0 && o.body_fraction <= 1.0)) {
      throw ConfigError("the body fraction of adaptation windows must be in [0, 1]");
    }
    if (!(o.prior_strength >= 0.0 && std::isfinite(o.prior_strength))) {
      throw ConfigError("the prior strength of adaptation must be finite and not negative");
    }
  }
  if (o.method == AdaptationMethod::kTent && (o.tent_steps < 1 || !(o.tent_learning_rate > 0.0))) {
    throw ConfigError("tent adaptation needs at least one step and a positive learning rate");
  }
}

// TENT on the batch-norm scale/shift: eval-mode statistics (the ones just
// estimated), softmax entropy averaged over the body voxels of each batch.
void minimise_entropy(models::UNet3d& model, std::int64_t domain, const std::vector<at::Tensor>& images,
                      const std::vector<at::Tensor>& bodies,
                      const std::vector<std::vector<AdaptationWindow>>& windows,
                      const std::array<std::int64_t, 3>& patch, const AdaptationOptions& o) {
  std::vector<at::Tensor> affine;
  for (auto* layer : adapted_layers(*model, o)) {
    for (at::Tensor* t : {&layer->weight, &layer->bias}) {
      if (t->defined()) affine.push_back(*t);
    }
  }
  if (affine.empty()) throw ModelError("tent adaptation: the batch-norm layers have no scale/shift to learn");
  std::vector<std::pair<at::Tensor, bool>> flags;
  for (auto& p : model->parameters()) {
    flags.emplace_back(p, p.requires_grad());
    p.set_requires_grad(false);
  }
  for (auto& p : affine) p.set_requires_grad(true);
  const bool was_training = model->is_training();
  model->eval();
  torch::optim::Adam optimizer(affine, torch::optim::AdamOptions(o.tent_learning_rate));
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (image, window), round robin
  for (std::size_t w = 0;; ++w) {
    bool any = false;
    for (std::size_t i = 0; i < windows.size(); ++i) {
      if (w < windows[i].size()) {
        order.emplace_back(i, w);
        any = true;
      }
    }
    if (!any) break;
  }
  std::size_t next = 0;
  try {
    for (std::int64_t step = 0; step < o.tent_steps; ++step) {
      std::vector<at::Tensor> inputs, masks;
      for (std::int64_t b = 0; b < o.windows_per_batch; ++b, ++next) {
        const auto [i, w] = order[next % order.size()];
        inputs.push_back(crop_window(images[i], windows[i][w], patch));
        masks.push_back(crop_window(bodies[i].unsqueeze(0), windows[i][w], patch).squeeze(0));
      }
      const at::Tensor batch = at::stack(inputs);
      const at::Tensor mask = at::stack(masks);
      const at::Tensor logits = model->forward(batch, at::full({batch.size(0)}, domain, at::kLong));
      const at::Tensor log_p = at::log_softmax(logits, 1);
      const at::Tensor entropy = -(log_p.exp() * log_p).sum(1);  // (N, D, H, W)
      const at::Tensor loss = mask.any().item<bool>() ? entropy.masked_select(mask).mean() : entropy.mean();
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  } catch (...) {
    for (auto& [p, flag] : flags) p.set_requires_grad(flag);
    model->train(was_training);
    throw;
  }
  for (auto& [p, flag] : flags) p.set_requires_grad(flag);
  for (auto& p : affine) p.mutable_grad().reset();
  model->train(was_training);
}

}  // namespace

at::Tensor pad_to_patch(const at::Tensor& image, const std::array<std::int64_t, 3>& patch) {
  std::vector<std::int64_t> pad;
  for (int axis = 0; axis < 3; ++axis) {
    pad.push_back(0);
    pad.push_back(std::max<std::int64_t>(0, patch[axis] - image.size(3 - axis)));
  }
  return at::constant_pad_nd(image, pad, 0.0);
}

at::Tensor crop_window(const at::Tensor& image, const AdaptationWindow& w, const std::array<std::int64_t, 3>& patch) {
  return image.slice(1, w.k, w.k + patch[2]).slice(2, w.j, w.j + patch[1]).slice(3, w.i, w.i + patch[0]);
}

std::int64_t batch_norm_layer_count(const models::UNet3d& model) {
  std::int64_t count = 0;
  for (const auto& m : model->modules(/*include_self=*/true)) count += m->as<models::DomainBatchNormImpl>() != nullptr;
  return count;
}

bool has_batch_statistics(const models::UNet3dOptions& options) {
  const auto kind = options.norm().kind();
  return kind == models::NormKind::kBatch || kind == models::NormKind::kBatchRenorm;
}

std::string domain_name(const models::BundleInfo& info, std::int64_t index) {
  if (index >= 0 && index < static_cast<std::int64_t>(info.domains.size())) {
    return info.domains[static_cast<std::size_t>(index)];
  }
  return "domain_" + std::to_string(index);
}

std::vector<AdaptationWindow> adaptation_windows(const at::Tensor& image, const at::Tensor& body,
                                                 const std::array<std::int64_t, 3>& patch,
                                                 const AdaptationOptions& o, std::uint64_t seed) {
  const std::array<std::int64_t, 3> size{image.size(3), image.size(2), image.size(1)};
  for (int axis = 0; axis < 3; ++axis) {
    TORCH_CHECK(size[axis] >= patch[axis], "adaptation_windows expects an image padded to the patch");
  }
  if (!sampled(o)) return sliding_windows(size, patch, o.overlap);
  // Centres as the training sampler draws them (patch_sampler.h), with the
  // label-free body standing in for the foreground. Body voxels are found by
  // rejection: a (D, H, W) list of them would cost gigabytes on a large CT.
  const at::Tensor flat_body = body.contiguous().view({-1});
  const bool* in_body = flat_body.data_ptr<bool>();
  const bool any_body = flat_body.any().item<bool>();
  Random random(seed);
  std::vector<AdaptationWindow> windows;
  for (std::int64_t n = 0; n < o.windows_per_image; ++n) {
    std::array<std::int64_t, 3> centre{};
    bool placed = false;
    if (any_body && random.chance(o.body_fraction)) {
      for (int attempt = 0; attempt < 10000 && !placed; ++attempt) {
        for (int axis = 0; axis < 3; ++axis) centre[axis] = random.index(size[axis]);
        placed = in_body[(centre[2] * size[1] + centre[1]) * size[0] + centre[0]];
      }
    }
    if (!placed) {  // anywhere the patch fits
      for (int axis = 0; axis < 3; ++axis) {
        centre[axis] = patch[axis] / 2 + random.index(size[axis] - patch[axis] + 1);
      }
    }
    AdaptationWindow w;
    std::array<std::int64_t, 3> start{};
    for (int axis = 0; axis < 3; ++axis) {
      start[axis] = std::clamp<std::int64_t>(centre[axis] - patch[axis] / 2, 0, size[axis] - patch[axis]);
    }
    w.i = start[0];
    w.j = start[1];
    w.k = start[2];
    windows.push_back(w);
  }
  return windows;
}

models::AdaptationEstimate adaptation_estimate(const AdaptationOptions& o, std::int64_t windows) {
  models::AdaptationEstimate estimate;
  if (!sampled(o)) return estimate;  // AdaBN: pooled, source forgotten
  estimate.kind = models::AdaptationEstimate::Kind::kBatchAverage;
  estimate.prior_weight = o.prior_strength / (o.prior_strength + static_cast<double>(std::max<std::int64_t>(windows, 1)));
  return estimate;
}

void adapt_domain(models::UNet3d& model, std::int64_t domain, const std::vector<at::Tensor>& images_in,
                  const std::array<std::int64_t, 3>& patch_size, const AdaptationOptions& options) {
  if (images_in.empty()) throw ConfigError("adaptation needs at least one image");
  check_options(options);
  if (models::domain_batch_norms(*model).empty()) {
    throw ModelError("adaptation: the model has no batch-normalization layer (norm kind '" +
                     models::to_string(model->options.norm().kind()) + "' needs no adaptation)");
  }
  for (const auto& image : images_in) {
    TORCH_CHECK(image.dim() == 4 && image.size(0) == model->options.in_channels(),
                "adaptation expects (", model->options.in_channels(), ", D, H, W) images, got ", image.sizes());
  }
  std::vector<at::Tensor> images, bodies;
  std::vector<std::vector<AdaptationWindow>> windows;
  std::int64_t total = 0;
  for (std::size_t n = 0; n < images_in.size(); ++n) {
    images.push_back(pad_to_patch(images_in[n].to(at::kFloat), patch_size));
    bodies.push_back(sampled(options) ? body_mask(images.back()).mask : at::Tensor());
    windows.push_back(adaptation_windows(images.back(), bodies.back(), patch_size, options,
                                         options.seed + 0x9E3779B97F4A7C15ULL * n));
    total += static_cast<std::int64_t>(windows.back().size());
  }
  const double tent_share = options.method == AdaptationMethod::kTent ? 0.5 : 0.0;

  // Work on a copy of the layers' state so that a failure or cancel leaves
  // `model` as it was (TENT changes parameters too).
  models::UNet3d work = options.method == AdaptationMethod::kTent ? copy_model(model) : model;
  {
    at::NoGradGuard no_grad;
    const auto layers = adapted_layers(*work, options);
    // Layers left out normalize with their running statistics during the
    // pass, which eval mode guarantees (adapting layers ignore the mode).
    const bool was_training = work->is_training();
    work->eval();
    try {
      const auto estimate = adaptation_estimate(options, total);
      for (auto* layer : layers) layer->begin_adaptation(domain, estimate);  // validates the domain
      std::int64_t done = 0;
      for (std::size_t n = 0; n < images.size(); ++n) {
        const auto& list = windows[n];
        const auto count = static_cast<std::int64_t>(list.size());
        for (std::int64_t first = 0; first < count; first += options.windows_per_batch) {
          const std::int64_t last = std::min(count, first + options.windows_per_batch);
          std::vector<at::Tensor> inputs;
          for (std::int64_t w = first; w < last; ++w) {
            inputs.push_back(crop_window(images[n], list[static_cast<std::size_t>(w)], patch_size));
          }
          const at::Tensor batch = at::stack(inputs);
          const at::Tensor ids = at::full({batch.size(0)}, domain, at::kLong);
          {
            models::Bf16Autocast autocast(options.bf16);
            work->forward(batch, ids);
          }
          done += last - first;
          const double fraction = (1.0 - tent_share) * static_cast<double>(done) / static_cast<double>(total);
          if (options.progress && !options.progress(fraction)) throw Cancelled("adaptation cancelled");
        }
      }
      for (auto* layer : layers) layer->end_adaptation();
    } catch (...) {
      cancel_all(*work);
      work->train(was_training);
      throw;
    }
    work->train(was_training);
  }
  if (options.method == AdaptationMethod::kTent) {
    minimise_entropy(work, domain, images, bodies, windows, patch_size, options);
    if (options.progress && !options.progress(1.0)) throw Cancelled("adaptation cancelled");
    copy_state(work, model);  // adopt the adapted state (same options, same names)
  }
}

models::UNet3d copy_model(const models::UNet3d& model) {
  models::UNet3d copy(model->options);
  copy_state(model, copy);
  copy->train(model->is_training());
  return copy;
}

void check_new_domain(const models::BundleInfo& info, const std::string& name) {
  const auto& norm = info.architecture.norm();
  if (!has_batch_statistics(info.architecture)) {
    throw ModelError("model '" + info.name + "' uses " + models::to_string(norm.kind()) +
                     " normalization, which computes its statistics from each volume itself: there is "
                     "nothing to adapt (use it as it is)");
  }
  if (name.empty()) throw ConfigError("the new domain needs a name");
  if (name == "auto") throw ConfigError("'auto' is reserved for --domain auto; choose another domain name");
  const std::int64_t k = norm.num_domains();
  for (std::int64_t d = 0; d < std::max<std::int64_t>(k, static_cast<std::int64_t>(info.domains.size())); ++d) {
    if (domain_name(info, d) == name) {
      throw ModelError("model '" + info.name + "' already has a domain named '" + name +
                       "' (choose another name)");
    }
  }
}

std::int64_t add_adapted_domain(models::Bundle& bundle, const std::string& name,
                                const std::vector<at::Tensor>& images, const AdaptationOptions& options) {
  auto& info = bundle.info;
  check_new_domain(info, name);
  if (options.method == AdaptationMethod::kTent) {
    throw ConfigError("--adapt-method tent changes the scale/shift that every domain of the bundle shares; "
                      "use it with medseg infer --domain auto, or adabn/prior here");
  }
  // Work on a copy so that the bundle stays unchanged if anything fails.
  models::UNet3d model = copy_model(bundle.model);
  const std::int64_t index = models::add_domain(*model);
  model->options.norm().num_domains(index + 1);
  adapt_domain(model, index, images, info.patch_size, options);

  std::vector<std::string> domains = info.domains;
  while (static_cast<std::int64_t>(domains.size()) < index) {
    domains.push_back(domain_name(info, static_cast<std::int64_t>(domains.size())));
  }
  domains.push_back(name);
  info.domains = std::move(domains);
  info.architecture = model->options;
  bundle.model = model;
  return index;
}

}  // namespace medseg::pipeline
