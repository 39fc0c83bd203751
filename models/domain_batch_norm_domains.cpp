// DomainBatchNorm's domains after training: adding a domain (statistics
// pooled from the existing ones) and adapting a domain's statistics to
// unlabeled data (AdaBN), per layer and for a whole model. Split from
// domain_batch_norm.cpp, which holds the layer's forward computations.
#include <c10/util/StringUtil.h>
#include <torch/torch.h>

#include <vector>

#include "core/error.h"
#include "models/domain_batch_norm.h"

namespace medseg::models {
namespace {

using torch::Tensor;

template <typename... Args>
[[noreturn]] void fail_with(const Args&... args) {
  throw ModelError(c10::str(args...));
}

}  // namespace

void DomainBatchNormImpl::begin_adaptation(int64_t domain, const AdaptationEstimate& estimate) {
  if (!(estimate.prior_weight >= 0.0 && estimate.prior_weight < 1.0)) {
    fail_with("DomainBatchNorm: the prior weight of an adaptation must be in [0, 1), got ", estimate.prior_weight);
  }
  if (!options.track_running_stats()) {
    fail_with("DomainBatchNorm: adaptation needs running statistics (track_running_stats = true)");
  }
  if (domain < 0 || domain >= num_domains()) {
    fail_with("DomainBatchNorm: cannot adapt domain ", domain, ": this layer has ", num_domains(),
         " domain(s), valid ids are 0..", num_domains() - 1);
  }
  if (is_adapting()) {
    fail_with("DomainBatchNorm: already adapting domain ", adapting_domain_,
         "; call end_adaptation() or cancel_adaptation() first");
  }
  cancel_adaptation();
  adapting_domain_ = domain;
  adapt_estimate_ = estimate;
}

void DomainBatchNormImpl::end_adaptation() {
  if (!is_adapting()) fail_with("DomainBatchNorm: end_adaptation() without begin_adaptation()");
  const int64_t a = adapting_domain_;
  const bool batch_average = adapt_estimate_.kind == AdaptationEstimate::Kind::kBatchAverage;
  if (adapt_count_ < 2.0 || (batch_average && adapt_min_batch_count_ < 2.0)) {
    const double seen = batch_average ? adapt_min_batch_count_ : adapt_count_;
    cancel_adaptation();
    fail_with("DomainBatchNorm: adaptation of domain ", a, " saw ", seen, " value(s) per channel",
              batch_average ? " in a batch" : "", "; at least 2 are needed for a variance");
  }
  torch::NoGradGuard no_grad;
  const int64_t k = num_domains();
  const int64_t c = options.num_features();
  Tensor mean = adapt_mean_;
  Tensor var = adapt_m2_ / (adapt_count_ - 1.0);
  if (batch_average) {
    const auto batches = static_cast<double>(adapt_batches_);
    mean = adapt_batch_mean_sum_ / batches;
    var = adapt_batch_var_sum_ / batches;
  }
  Tensor mean_row = running_mean.view({k, c}).select(0, a);
  Tensor var_row = running_var.view({k, c}).select(0, a);
  const double w = adapt_estimate_.prior_weight;
  mean_row.copy_(mean_row.to(torch::kDouble) * w + mean * (1.0 - w));
  var_row.copy_(var_row.to(torch::kDouble) * w + var * (1.0 - w));
  num_batches_tracked.view({k}).select(0, a).fill_(adapt_batches_);
  cancel_adaptation();
}

void DomainBatchNormImpl::cancel_adaptation() {
  adapting_domain_ = -1;
  adapt_count_ = 0.0;
  adapt_batches_ = 0;
  adapt_mean_ = Tensor();
  adapt_m2_ = Tensor();
  adapt_estimate_ = {};
  adapt_batch_mean_sum_ = Tensor();
  adapt_batch_var_sum_ = Tensor();
  adapt_min_batch_count_ = 0.0;
}

int64_t DomainBatchNormImpl::add_domain() {
  if (is_adapting()) fail_with("DomainBatchNorm: cannot add a domain while adapting domain ", adapting_domain_);
  torch::NoGradGuard no_grad;
  const int64_t k = num_domains();
  const int64_t c = options.num_features();

  Tensor share = torch::full({k}, 1.0 / static_cast<double>(k), torch::kDouble);
  if (options.track_running_stats()) {
    const Tensor tracked = num_batches_tracked.view({k}).to(torch::kDouble);
    const double total = tracked.sum().item<double>();
    if (total > 0.0) share = tracked / total;
  }
  const Tensor share_col = share.unsqueeze(1);
  auto pooled = [&](const Tensor& rows) {  // (K, C) → weighted mean (1, C)
    return (share_col * rows.to(torch::kDouble)).sum(0, /*keepdim=*/true).to(rows.scalar_type());
  };

  if (options.track_running_stats()) {
    const Tensor means = running_mean.view({k, c});
    const Tensor vars = running_var.view({k, c});
    const Tensor mean64 = means.to(torch::kDouble);
    const Tensor pooled_mean = (share_col * mean64).sum(0, true);
    // Variance of the mixture: within-domain plus between-domain parts.
    const Tensor pooled_var =
        (share_col * (vars.to(torch::kDouble) + (mean64 - pooled_mean).pow(2))).sum(0, true);
    running_mean.set_data(torch::cat({means, pooled_mean.to(means.scalar_type())}, 0));
    running_var.set_data(torch::cat({vars, pooled_var.to(vars.scalar_type())}, 0));
    num_batches_tracked.set_data(
        torch::cat({num_batches_tracked.view({k}), torch::zeros({1}, num_batches_tracked.options())}, 0));
  }
  if (options.affine() && options.domain_affine()) {
    for (Tensor* param : {&weight, &bias}) {
      const Tensor rows = param->view({k, c});
      param->set_data(torch::cat({rows, pooled(rows)}, 0));
      param->mutable_grad().reset();
    }
  }
  options.num_domains(k + 1);
  return k;
}

std::vector<DomainBatchNormImpl*> domain_batch_norms(torch::nn::Module& model) {
  std::vector<DomainBatchNormImpl*> layers;
  if (auto* self = model.as<DomainBatchNormImpl>()) layers.push_back(self);
  for (const auto& child : model.modules(/*include_self=*/false)) {
    if (auto* layer = child->as<DomainBatchNormImpl>()) layers.push_back(layer);
  }
  return layers;
}

int64_t begin_adaptation(torch::nn::Module& model, int64_t domain, const AdaptationEstimate& estimate) {
  const auto layers = domain_batch_norms(model);
  for (auto* layer : layers) {  // validate all before changing any
    if (!layer->options.track_running_stats() || domain < 0 || domain >= layer->num_domains() ||
        layer->is_adapting() || !(estimate.prior_weight >= 0.0 && estimate.prior_weight < 1.0)) {
      layer->begin_adaptation(domain, estimate);  // throws with the precise reason
    }
  }
  for (auto* layer : layers) layer->begin_adaptation(domain, estimate);
  return static_cast<int64_t>(layers.size());
}

int64_t end_adaptation(torch::nn::Module& model) {
  int64_t ended = 0;
  for (auto* layer : domain_batch_norms(model)) {
    if (layer->is_adapting()) {
      layer->end_adaptation();
      ++ended;
    }
  }
  return ended;
}

int64_t add_domain(torch::nn::Module& model) {
  const auto layers = domain_batch_norms(model);
  if (layers.empty()) fail_with("add_domain: the model has no DomainBatchNorm layer");
  const int64_t k = layers.front()->num_domains();
  for (auto* layer : layers) {
    if (layer->num_domains() != k) {
      fail_with("add_domain: DomainBatchNorm layers disagree on the number of domains (", k, " vs ",
           layer->num_domains(), ")");
    }
  }
  for (auto* layer : layers) layer->add_domain();
  return k;
}

}  // namespace medseg::models
