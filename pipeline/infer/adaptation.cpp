#include "pipeline/infer/adaptation.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>

#include "models/autocast.h"
#include "models/domain_batch_norm.h"
#include "core/error.h"

namespace medseg::pipeline {
namespace {

std::vector<models::DomainBatchNormImpl*> batch_norm_layers(torch::nn::Module& model) {
  std::vector<models::DomainBatchNormImpl*> layers;
  for (const auto& m : model.modules(/*include_self=*/true)) {
    if (auto* bn = m->as<models::DomainBatchNormImpl>()) layers.push_back(bn);
  }
  return layers;
}

void cancel_all(torch::nn::Module& model) {
  for (auto* layer : batch_norm_layers(model)) {
    if (layer->is_adapting()) layer->cancel_adaptation();
  }
}

struct Window {
  std::int64_t i, j, k;
};

// The windows of sliding-window inference over a volume padded to the patch.
std::vector<Window> windows_of(const std::array<std::int64_t, 3>& padded, const std::array<std::int64_t, 3>& patch,
                               double overlap) {
  std::array<std::vector<std::int64_t>, 3> starts;
  for (int axis = 0; axis < 3; ++axis) starts[axis] = window_starts(padded[axis], patch[axis], overlap);
  std::vector<Window> windows;
  for (auto k : starts[2]) {
    for (auto j : starts[1]) {
      for (auto i : starts[0]) windows.push_back({i, j, k});
    }
  }
  return windows;
}

at::Tensor pad_to_patch(const at::Tensor& image, const std::array<std::int64_t, 3>& patch,
                        std::array<std::int64_t, 3>& padded) {
  const std::array<std::int64_t, 3> size{image.size(3), image.size(2), image.size(1)};
  std::vector<std::int64_t> pad;
  for (int axis = 0; axis < 3; ++axis) {
    padded[axis] = std::max(size[axis], patch[axis]);
    pad.push_back(0);
    pad.push_back(padded[axis] - size[axis]);
  }
  return at::constant_pad_nd(image, pad, 0.0);
}

}  // namespace

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

void adapt_domain(models::UNet3d& model, std::int64_t domain, const std::vector<at::Tensor>& images,
                  const std::array<std::int64_t, 3>& patch_size, const AdaptationOptions& options) {
  if (images.empty()) throw ConfigError("adaptation needs at least one image");
  if (options.windows_per_batch < 1) throw ConfigError("windows per batch must be at least 1");
  if (batch_norm_layers(*model).empty()) {
    throw ModelError("adaptation: the model has no batch-normalization layer (norm kind '" +
                     models::to_string(model->options.norm().kind()) + "' needs no adaptation)");
  }
  for (const auto& image : images) {
    TORCH_CHECK(image.dim() == 4 && image.size(0) == model->options.in_channels(),
                "adaptation expects (", model->options.in_channels(), ", D, H, W) images, got ", image.sizes());
  }
  // Count windows first so progress is a fraction of the whole job.
  std::int64_t total = 0;
  for (const auto& image : images) {
    std::array<std::int64_t, 3> padded{};
    for (int axis = 0; axis < 3; ++axis) padded[axis] = std::max(image.size(3 - axis), patch_size[axis]);
    total += static_cast<std::int64_t>(windows_of(padded, patch_size, options.overlap).size());
  }

  at::NoGradGuard no_grad;
  models::begin_adaptation(*model, domain);  // validates the domain for every layer
  try {
    std::int64_t done = 0;
    for (const auto& image_in : images) {
      std::array<std::int64_t, 3> padded{};
      const at::Tensor image = pad_to_patch(image_in.to(at::kFloat), patch_size, padded);
      const auto windows = windows_of(padded, patch_size, options.overlap);
      const auto n = static_cast<std::int64_t>(windows.size());
      for (std::int64_t first = 0; first < n; first += options.windows_per_batch) {
        const std::int64_t last = std::min(n, first + options.windows_per_batch);
        std::vector<at::Tensor> inputs;
        for (std::int64_t w = first; w < last; ++w) {
          const auto& win = windows[static_cast<std::size_t>(w)];
          inputs.push_back(image.slice(1, win.k, win.k + patch_size[2])
                               .slice(2, win.j, win.j + patch_size[1])
                               .slice(3, win.i, win.i + patch_size[0]));
        }
        const at::Tensor batch = at::stack(inputs);
        const at::Tensor ids = at::full({batch.size(0)}, domain, at::kLong);
        {
          models::Bf16Autocast autocast(options.bf16);
          model->forward(batch, ids);
        }
        done += last - first;
        if (options.progress && !options.progress(static_cast<double>(done) / static_cast<double>(total))) {
          throw Cancelled("adaptation cancelled");
        }
      }
    }
    models::end_adaptation(*model);
  } catch (...) {
    cancel_all(*model);
    throw;
  }
}

models::UNet3d copy_model(const models::UNet3d& model) {
  models::UNet3d copy(model->options);
  at::NoGradGuard no_grad;
  const auto params = model->named_parameters();
  for (auto& p : copy->named_parameters()) p.value().set_data(params[p.key()].detach().clone());
  const auto buffers = model->named_buffers();
  for (auto& b : copy->named_buffers()) b.value().set_data(buffers[b.key()].detach().clone());
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
