#include "models/domain_batch_norm.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "models/batch_norm_kernels.h"
#include "core/error.h"

namespace medseg::models {

namespace {

using torch::Tensor;

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream message;
  (message << ... << args);
  throw ModelError(message.str());
}

bool is_reduced_float(c10::ScalarType type) {
  return type == torch::kBFloat16 || type == torch::kHalf;
}

// Checks that a reduction handed back tensors of the shapes it was given.
void check_reduced(const char* what, const Tensor& tensor, at::IntArrayRef expected) {
  if (!tensor.defined() || tensor.sizes() != expected || tensor.scalar_type() != torch::kDouble) {
    fail("DomainBatchNorm: the batch statistics reduction returned ", what, " as ",
         tensor.defined() ? std::string(c10::toString(tensor.scalar_type())) : std::string("undefined"),
         tensor.defined() ? " of shape " : "", tensor.defined() ? tensor.sizes() : at::IntArrayRef{},
         "; expected float64 of shape ", expected);
  }
}

// Backward of "normalize each (sample, channel) row with its domain's batch
// statistics, then scale and shift": the input gradient needs the per-domain
// sums of dy and dy·x̂, which pass through the reduction like the forward
// statistics do (global statistics need global gradient sums).
//
// Layout: x is viewed as (1, N·C, S); every row (n, c) carries the mean and
// variance of its domain, and its own scale w and shift b.
//   ∂L/∂x = a · (dy − mean_k(dy) − x̂ · mean_k(dy·x̂)),  a = w / sqrt(var + eps)
// One pass for the row sums, one for the input gradient (batch_norm_kernels).
struct DomainBatchNormBackward final : public torch::autograd::Node {
  std::string name() const override { return "medseg::models::DomainBatchNormBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const Tensor x = x_.unpack();
    const Tensor w = w_.unpack();
    torch::autograd::variable_list result(3);
    if (!grads[0].defined()) return result;
    if (torch::GradMode::is_enabled()) {
      fail("DomainBatchNorm: double backward (create_graph = true) is not supported when normalizing with "
           "per-domain batch statistics; only the single-domain fused path supports it");
    }
    const Tensor dy = grads[0].contiguous();
    const int64_t rows = x.size(1);
    const int64_t samples = onehot_.size(1);
    const int64_t channels = rows / samples;

    // Σ dy and Σ dy·x̂ per (sample, channel) row, in float64.
    const Tensor invstd = (var_.to(torch::kDouble) + eps_).rsqrt();
    auto sums = kernels::row_grad_sums(dy, x, mean_, rows);
    const Tensor row_sum_dy = std::get<0>(sums);
    const Tensor row_sum_dy_xhat = std::get<1>(sums) * invstd;

    BatchGradStats stats;
    stats.sum_dy = onehot_.mm(row_sum_dy.view({samples, channels}));
    stats.sum_dy_xhat = onehot_.mm(row_sum_dy_xhat.view({samples, channels}));
    if (reduction_) {
      const std::vector<int64_t> shape{onehot_.size(0), channels};
      reduction_->reduce(stats);
      check_reduced("sum_dy", stats.sum_dy, shape);
      check_reduced("sum_dy_xhat", stats.sum_dy_xhat, shape);
    }

    const auto type = x.scalar_type();
    if (should_compute_output(0)) {
      const Tensor count = count_.clamp_min(1.0).unsqueeze(1);
      const Tensor mean_dy = onehot_.t().mm(stats.sum_dy / count).reshape({rows});
      const Tensor mean_dy_xhat = onehot_.t().mm(stats.sum_dy_xhat / count).reshape({rows});
      const Tensor a = w.to(torch::kDouble) * invstd;
      // a·(dy − mean(dy) − x̂·mean(dy·x̂)) with x̂ = (x − μ)·invstd
      result[0] = kernels::row_affine_combination(dy, x, mean_, a, -a * invstd * mean_dy_xhat, -a * mean_dy,
                                                  rows);
    }
    if (should_compute_output(1)) result[1] = row_sum_dy_xhat.to(type);
    if (should_compute_output(2)) result[2] = row_sum_dy.to(type);
    return result;
  }

  void release_variables() override {
    x_.reset_data();
    w_.reset_data();
  }

  torch::autograd::SavedVariable x_;
  torch::autograd::SavedVariable w_;
  Tensor mean_;    // (N·C) in x's dtype
  Tensor var_;     // (N·C) biased, in x's dtype
  Tensor onehot_;  // (K, N) float64: onehot_[k][n] = 1 if sample n is from domain k
  Tensor count_;   // (K) float64: values per channel of each domain (after reduction)
  double eps_ = 0.0;
  std::shared_ptr<BatchStatsReduction> reduction_;
};

// y = (x − mean)/sqrt(var + eps)·w + b on the (1, N·C, S) view, where mean and
// var are batch statistics: the backward includes the paths through them.
Tensor normalize_with_batch_stats(const Tensor& x3, const Tensor& w, const Tensor& b,
                                  const Tensor& mean, const Tensor& var, const Tensor& onehot,
                                  const Tensor& count, double eps,
                                  const std::shared_ptr<BatchStatsReduction>& reduction) {
  Tensor y;
  {
    torch::NoGradGuard no_grad;
    y = std::get<0>(at::native_batch_norm(x3, w, b, mean, var, false, 0.0, eps));
  }
  if (torch::autograd::compute_requires_grad(x3, w, b)) {
    auto node = std::shared_ptr<DomainBatchNormBackward>(new DomainBatchNormBackward(),
                                                         torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(x3, w, b));
    node->x_ = torch::autograd::SavedVariable(x3, false);
    node->w_ = torch::autograd::SavedVariable(w, false);
    node->mean_ = mean;
    node->var_ = var;
    node->onehot_ = onehot;
    node->count_ = count;
    node->eps_ = eps;
    node->reduction_ = reduction;
    torch::autograd::set_history(y, node);
  }
  return y;
}

// Validated domain index per sample: int64 (N) on the CPU.
Tensor domain_index(const Tensor& domain_ids, int64_t samples, int64_t domains) {
  if (!domain_ids.defined()) return torch::zeros({samples}, torch::kLong);
  if (domain_ids.scalar_type() != torch::kLong) {
    fail("DomainBatchNorm: domain_ids must be an int64 tensor, got ",
         c10::toString(domain_ids.scalar_type()));
  }
  if (domain_ids.dim() != 1 || domain_ids.size(0) != samples) {
    fail("DomainBatchNorm: domain_ids must have shape [N] = [", samples, "] (one id per sample), got ",
         domain_ids.sizes());
  }
  Tensor ids = domain_ids.detach().to(torch::kCPU).contiguous();
  const auto acc = ids.accessor<int64_t, 1>();
  for (int64_t i = 0; i < samples; ++i) {
    if (acc[i] < 0 || acc[i] >= domains) {
      fail("DomainBatchNorm: domain id ", acc[i], " of sample ", i, " is out of range: this layer has ",
           domains, " domain(s), valid ids are 0..", domains - 1);
    }
  }
  return ids;
}

// (K, N) float64 membership matrix.
Tensor membership(const Tensor& ids, int64_t domains) {
  const int64_t samples = ids.size(0);
  Tensor onehot = torch::zeros({domains, samples}, torch::kDouble);
  auto out = onehot.accessor<double, 2>();
  const auto acc = ids.accessor<int64_t, 1>();
  for (int64_t i = 0; i < samples; ++i) out[acc[i]][i] = 1.0;
  return onehot;
}

// A (C) or (K, C) parameter expanded to one value per (sample, channel) row:
// (N·C). Differentiable. Undefined stays undefined.
Tensor per_row(const Tensor& param, const Tensor& ids, int64_t samples) {
  if (!param.defined()) return {};
  if (param.dim() == 2) return param.index_select(0, ids.to(param.device())).reshape({-1});
  return param.unsqueeze(0).expand({samples, param.size(0)}).reshape({-1});
}

std::string format_momentum(const c10::optional<double>& momentum) {
  if (!momentum) return "None";
  std::ostringstream s;
  s << *momentum;
  return s.str();
}

}  // namespace

DomainBatchNormOptions::DomainBatchNormOptions(int64_t num_features) : num_features_(num_features) {}

DomainBatchNormImpl::DomainBatchNormImpl(const DomainBatchNormOptions& options_)
    : options(options_) {
  reset();  // NOLINT(clang-analyzer-optin.cplusplus.VirtualCall)
}

void DomainBatchNormImpl::reset() {
  const auto& o = options;
  if (o.num_features() < 1) fail("DomainBatchNorm: num_features must be >= 1, got ", o.num_features());
  if (o.num_domains() < 1) fail("DomainBatchNorm: num_domains must be >= 1, got ", o.num_domains());
  if (!(o.eps() >= 0.0)) fail("DomainBatchNorm: eps must be >= 0, got ", o.eps());
  if (o.momentum() && !(*o.momentum() >= 0.0 && *o.momentum() <= 1.0)) {
    fail("DomainBatchNorm: momentum must be in [0, 1] or unset, got ", *o.momentum());
  }
  if (o.renorm()) {
    if (!(o.r_max() >= 1.0)) fail("DomainBatchNorm: r_max must be >= 1, got ", o.r_max());
    if (!(o.d_max() >= 0.0)) fail("DomainBatchNorm: d_max must be >= 0, got ", o.d_max());
    if (o.renorm_warmup_steps() < 0) {
      fail("DomainBatchNorm: renorm_warmup_steps must be >= 0, got ", o.renorm_warmup_steps());
    }
    if (!o.track_running_stats()) {
      fail("DomainBatchNorm: renorm needs running statistics (track_running_stats = true)");
    }
  }

  const int64_t c = o.num_features();
  const int64_t k = o.num_domains();
  const std::vector<int64_t> stat_shape = k == 1 ? std::vector<int64_t>{c} : std::vector<int64_t>{k, c};
  const std::vector<int64_t> affine_shape =
      (o.domain_affine() && k > 1) ? std::vector<int64_t>{k, c} : std::vector<int64_t>{c};
  if (o.affine()) {
    weight = register_parameter("weight", torch::empty(affine_shape));
    bias = register_parameter("bias", torch::empty(affine_shape));
  } else {
    weight = register_parameter("weight", Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", Tensor(), /*requires_grad=*/false);
  }
  if (o.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros(stat_shape));
    running_var = register_buffer("running_var", torch::ones(stat_shape));
    num_batches_tracked = register_buffer(
        "num_batches_tracked",
        k == 1 ? torch::tensor(int64_t{0}, torch::kLong) : torch::zeros({k}, torch::kLong));
  } else {
    running_mean = register_buffer("running_mean", Tensor());
    running_var = register_buffer("running_var", Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void DomainBatchNormImpl::reset_running_stats() {
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    running_mean.zero_();
    running_var.fill_(1);
    num_batches_tracked.zero_();
  }
}

void DomainBatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    torch::NoGradGuard no_grad;
    weight.fill_(1);
    bias.zero_();
  }
}

void DomainBatchNormImpl::set_reduction(std::shared_ptr<BatchStatsReduction> reduction) {
  reduction_ = std::move(reduction);
}

Tensor DomainBatchNormImpl::forward(const Tensor& input, const Tensor& domain_ids) {
  if (!input.defined() || input.dim() != 5) {
    fail("DomainBatchNorm: expected a 5-D input (N, C, D, H, W), got ",
         input.defined() ? std::to_string(input.dim()) + "-D input of shape " : "an undefined tensor",
         input.defined() ? input.sizes() : at::IntArrayRef{});
  }
  const int64_t samples = input.size(0);
  const int64_t channels = options.num_features();
  if (input.size(1) != channels) {
    fail("DomainBatchNorm: expected ", channels, " channels, got input of shape ", input.sizes());
  }
  if (samples == 0) fail("DomainBatchNorm: empty batch, input shape ", input.sizes());
  const Tensor ids = domain_index(domain_ids, samples, num_domains());
  const auto acc = ids.accessor<int64_t, 1>();
  const bool single_domain =
      std::all_of(acc.data(), acc.data() + samples, [&](int64_t id) { return id == acc[0]; });

  const bool adapting = is_adapting();
  const bool batch_stats = adapting || is_training() || !options.track_running_stats() ||
                           options.test_batch_stats();
  const bool update_running = is_training() && options.track_running_stats() && !adapting;
  if (!batch_stats) {
    return single_domain ? forward_native(input, acc[0], false, false)
                         : forward_running_stats(input, ids);
  }
  const bool renorm_now = options.renorm() && update_running;
  if (single_domain && !reduction_ && !renorm_now && !adapting) {
    if (input.numel() / channels == 1) {
      fail("DomainBatchNorm: expected more than 1 value per channel when using batch statistics, "
           "got input of shape ",
           input.sizes());
    }
    return forward_native(input, acc[0], true, update_running);
  }
  return forward_batch_stats(input, ids, update_running);
}

// One domain, local statistics: ATen's fused batch norm, exactly what
// torch::nn::BatchNorm3d runs, on the domain's rows of the buffers.
Tensor DomainBatchNormImpl::forward_native(const Tensor& input, int64_t domain, bool batch_stats,
                                           bool update_running) {
  const int64_t k = num_domains();
  const int64_t c = options.num_features();
  Tensor w = weight.defined() && weight.dim() == 2 ? weight.select(0, domain) : weight;
  Tensor b = bias.defined() && bias.dim() == 2 ? bias.select(0, domain) : bias;
  Tensor mean;
  Tensor var;
  double factor = 0.0;
  if (options.track_running_stats() && (update_running || !batch_stats)) {
    mean = running_mean.view({k, c}).select(0, domain);
    var = running_var.view({k, c}).select(0, domain);
  }
  if (update_running) {
    torch::NoGradGuard no_grad;
    Tensor tracked = num_batches_tracked.view({k}).select(0, domain);
    tracked.add_(1);
    factor = options.momentum() ? *options.momentum() : 1.0 / tracked.item<double>();
  }
  return at::batch_norm(input, w, b, mean, var, batch_stats, factor, options.eps(),
                        /*cudnn_enabled=*/false);
}

// Eval mode with running statistics and several domains in the batch: one
// eval-mode batch norm over the (1, N·C, S) view, each row with its domain's
// statistics and affine parameters.
Tensor DomainBatchNormImpl::forward_running_stats(const Tensor& input, const Tensor& ids) {
  const int64_t samples = input.size(0);
  const int64_t k = num_domains();
  const int64_t c = options.num_features();
  const Tensor x3 = input.contiguous().view({1, samples * c, -1});
  const Tensor rows = ids.to(running_mean.device());
  const Tensor mean = running_mean.view({k, c}).index_select(0, rows).reshape({-1});
  const Tensor var = running_var.view({k, c}).index_select(0, rows).reshape({-1});
  const Tensor y = at::batch_norm(x3, per_row(weight, ids, samples), per_row(bias, ids, samples),
                                  mean, var, false, 0.0, options.eps(), false);
  return y.view(input.sizes());
}

// The general path: per-domain batch statistics through the reduction hook,
// running-statistics update, renorm, adaptation.
Tensor DomainBatchNormImpl::forward_batch_stats(const Tensor& input, const Tensor& ids,
                                                bool update_running) {
  const int64_t samples = input.size(0);
  const int64_t k = num_domains();
  const int64_t c = options.num_features();
  const double eps = options.eps();
  const auto input_type = input.scalar_type();
  const Tensor x = (is_reduced_float(input_type) ? input.to(torch::kFloat) : input).contiguous();
  const auto type = x.scalar_type();
  const int64_t spatial = x.numel() / (samples * c);
  const Tensor x3 = x.view({1, samples * c, spatial});
  const Tensor onehot = membership(ids, k);

  // Per-domain sums from per-(sample, channel) moments, accumulated in
  // float64 around each row's first value (no cancellation).
  BatchStats stats;
  {
    torch::NoGradGuard no_grad;
    auto moments = kernels::row_moments(x3, samples * c);
    const Tensor m = std::get<0>(moments).view({samples, c});
    const Tensor v = std::get<1>(moments).view({samples, c});
    const auto n = static_cast<double>(spatial);
    stats.sum = onehot.mm(m) * n;
    stats.sum_sq = onehot.mm(v + m * m) * n;
    stats.count = onehot.sum(1) * n;
  }
  if (reduction_) {
    reduction_->reduce(stats);
    check_reduced("sum", stats.sum, {k, c});
    check_reduced("sum_sq", stats.sum_sq, {k, c});
    check_reduced("count", stats.count, {k});
  }
  const auto count = stats.count.accessor<double, 1>();
  for (int64_t j = 0; j < k; ++j) {
    if (count[j] > 0.0 && count[j] <= 1.0) {
      fail("DomainBatchNorm: expected more than 1 value per channel when using batch statistics, "
           "but domain ",
           j, " has ", count[j], " (input shape ", input.sizes(), ")");
    }
  }
  const Tensor divisor = stats.count.clamp_min(1.0).unsqueeze(1);
  const Tensor mean_k = stats.sum / divisor;                                        // (K, C)
  const Tensor var_k = (stats.sum_sq / divisor - mean_k * mean_k).clamp_min(0.0);  // biased

  Tensor gamma = per_row(weight, ids, samples);
  Tensor beta = per_row(bias, ids, samples);
  if (!gamma.defined()) gamma = torch::ones({samples * c}, x.options());
  if (!beta.defined()) beta = torch::zeros({samples * c}, x.options());

  const bool grad_enabled = torch::GradMode::is_enabled();
  if (options.renorm() && update_running) {
    torch::NoGradGuard no_grad;
    // r and d from the running statistics before this batch's update; they
    // are constants for backprop (plain tensors, no autograd history).
    const Tensor tracked = num_batches_tracked.view({k}).to(torch::kDouble);
    const Tensor steps = tracked + 1.0;  // 1-based index of this batch
    const auto warmup = static_cast<double>(options.renorm_warmup_steps());
    const Tensor ramp = warmup > 0 ? ((steps - 1.0) / warmup).clamp_max(1.0) : torch::ones_like(steps);
    const Tensor r_limit = (1.0 + (options.r_max() - 1.0) * ramp).unsqueeze(1);
    const Tensor d_limit = (options.d_max() * ramp).unsqueeze(1);
    const Tensor sigma = (running_var.view({k, c}).to(torch::kDouble) + eps).sqrt();
    const Tensor r = torch::min(torch::max((var_k + eps).sqrt() / sigma, r_limit.reciprocal()), r_limit);
    const Tensor d = torch::min(
        torch::max((mean_k - running_mean.view({k, c}).to(torch::kDouble)) / sigma, -d_limit), d_limit);
    const Tensor r_rows = onehot.t().mm(r).reshape({-1}).to(type);
    const Tensor d_rows = onehot.t().mm(d).reshape({-1}).to(type);
    torch::AutoGradMode grad_mode(grad_enabled);
    beta = beta + gamma * d_rows;
    gamma = gamma * r_rows;
  }

  if (update_running) {
    torch::NoGradGuard no_grad;
    const Tensor means = running_mean.view({k, c});
    const Tensor vars = running_var.view({k, c});
    const Tensor tracked = num_batches_tracked.view({k});
    for (int64_t j = 0; j < k; ++j) {
      if (count[j] <= 0.0) continue;  // absent domain: untouched
      Tensor t = tracked.select(0, j);
      t.add_(1);
      const double f = options.momentum() ? *options.momentum() : 1.0 / t.item<double>();
      const Tensor unbiased = var_k[j] * (count[j] / (count[j] - 1.0));
      Tensor mean_j = means.select(0, j);
      Tensor var_j = vars.select(0, j);
      mean_j.copy_(mean_j.to(torch::kDouble) * (1.0 - f) + mean_k[j] * f);
      var_j.copy_(var_j.to(torch::kDouble) * (1.0 - f) + unbiased * f);
    }
  }

  if (is_adapting() && count[adapting_domain_] > 0.0) {
    torch::NoGradGuard no_grad;
    const int64_t a = adapting_domain_;
    const double nb = count[a];
    const Tensor mb = mean_k[a].clone();
    const Tensor m2b = var_k[a] * nb;
    if (adapt_count_ == 0.0) {
      adapt_mean_ = mb;
      adapt_m2_ = m2b;
    } else {
      // Chan et al.: combine (n, mean, M2) of two sets exactly.
      const double na = adapt_count_;
      const double n = na + nb;
      const Tensor delta = mb - adapt_mean_;
      adapt_mean_ = adapt_mean_ + delta * (nb / n);
      adapt_m2_ = adapt_m2_ + m2b + delta * delta * (na * nb / n);
    }
    adapt_count_ += nb;
    ++adapt_batches_;
    if (adapt_estimate_.kind == AdaptationEstimate::Kind::kBatchAverage) {
      const Tensor unbiased = nb > 1.0 ? var_k[a] * (nb / (nb - 1.0)) : torch::zeros_like(mb);
      adapt_batch_mean_sum_ = adapt_batch_mean_sum_.defined() ? adapt_batch_mean_sum_ + mb : mb;
      adapt_batch_var_sum_ = adapt_batch_var_sum_.defined() ? adapt_batch_var_sum_ + unbiased : unbiased;
      adapt_min_batch_count_ = adapt_batches_ == 1 ? nb : std::min(adapt_min_batch_count_, nb);
    }
  }

  const Tensor mean_rows = onehot.t().mm(mean_k).reshape({-1}).to(type);
  const Tensor var_rows = onehot.t().mm(var_k).reshape({-1}).to(type);
  Tensor y = normalize_with_batch_stats(x3, gamma, beta, mean_rows, var_rows, onehot, stats.count,
                                        eps, reduction_)
                 .view(input.sizes());
  return is_reduced_float(input_type) ? y.to(input_type) : y;
}

void DomainBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "medseg::models::DomainBatchNorm(" << options.num_features()
         << ", num_domains=" << options.num_domains() << ", eps=" << options.eps()
         << ", momentum=" << format_momentum(options.momentum()) << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats();
  if (options.domain_affine()) stream << ", domain_affine=true";
  if (options.renorm()) {
    stream << ", renorm=true, r_max=" << options.r_max() << ", d_max=" << options.d_max()
           << ", renorm_warmup_steps=" << options.renorm_warmup_steps();
  }
  if (options.test_batch_stats()) stream << ", test_batch_stats=true";
  stream << ")";
}

}  // namespace medseg::models
