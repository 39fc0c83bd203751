#include "models/unet3d.h"

#include <torch/torch.h>

#include "core/error.h"
#include "models/check.h"

namespace medseg::models {
namespace {

// (i, j, k) -> tensor order (D, H, W) = (k, j, i).
std::array<int64_t, 3> dhw(const std::array<int64_t, 3>& ijk) { return {ijk[2], ijk[1], ijk[0]}; }

}  // namespace

UNet3dOptions::UNet3dOptions(int64_t in_channels, int64_t num_classes)
    : in_channels_(in_channels), num_classes_(num_classes) {}

ConvBlockImpl::ConvBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel_dhw,
                             std::array<int64_t, 3> stride_dhw, const NormOptions& norm, double negative_slope,
                             double dropout, int64_t instance_channels)
    : in_(in), out_(out), kernel_(kernel_dhw), stride_(stride_dhw), norm_options_(norm),
      negative_slope_(negative_slope), dropout_(dropout), instance_channels_(instance_channels) {
  reset();
}

void ConvBlockImpl::reset() {
  const Int3 half{kernel_[0] / 2, kernel_[1] / 2, kernel_[2] / 2};
  const torch::ExpandingArray<3> k(at::IntArrayRef(kernel_.data(), 3));
  const torch::ExpandingArray<3> s(at::IntArrayRef(stride_.data(), 3));
  const torch::ExpandingArray<3> p(at::IntArrayRef(half.data(), 3));
  conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in_, out_, k).stride(s).padding(p)));
  norm = make_norm(norm_options_, out_, instance_channels_);
  register_module("norm", norm.ptr());
}

torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& domain_ids) {
  torch::Tensor y = conv->forward(x);
  if (dropout_ > 0.0) y = torch::dropout(y, dropout_, is_training());
  y = apply_norm(norm, y, domain_ids);
  return torch::leaky_relu(y, negative_slope_);
}

UNet3dImpl::UNet3dImpl(UNet3dOptions options_) : options(std::move(options_)) { reset(); }

std::vector<std::array<int64_t, 3>> UNet3dImpl::strides_ijk() const {
  if (!options.strides().empty()) return options.strides();
  std::vector<std::array<int64_t, 3>> s{{1, 1, 1}};
  for (int64_t l = 1; l < options.depth(); ++l) s.push_back({2, 2, 2});
  return s;
}

std::vector<std::array<int64_t, 3>> UNet3dImpl::kernels_ijk() const {
  if (!options.kernel_sizes().empty()) return options.kernel_sizes();
  return std::vector<std::array<int64_t, 3>>(static_cast<size_t>(options.depth()), {3, 3, 3});
}

int64_t UNet3dImpl::features(int64_t level) const {
  return std::min(options.base_features() << level, options.max_features());
}

void UNet3dImpl::reset() {
  const int64_t depth = options.depth();
  if (depth < 1) throw ModelError("UNet3d depth must be >= 1, got " + std::to_string(depth));
  if (!options.strides().empty() && static_cast<int64_t>(options.strides().size()) != depth) {
    throw ModelError("UNet3d: " + std::to_string(options.strides().size()) + " strides for depth " +
                     std::to_string(depth));
  }
  if (!options.kernel_sizes().empty() && static_cast<int64_t>(options.kernel_sizes().size()) != depth) {
    throw ModelError("UNet3d: " + std::to_string(options.kernel_sizes().size()) + " kernel sizes for depth " +
                     std::to_string(depth));
  }
  const auto strides = strides_ijk();
  const auto kernels = kernels_ijk();
  encoder_a_.clear();
  encoder_b_.clear();
  decoder_a_.clear();
  decoder_b_.clear();
  up_.clear();
  heads_.clear();
  const NormOptions& norm = options.norm();
  const bool batch_kind = norm.kind() == NormKind::kBatch || norm.kind() == NormKind::kBatchRenorm;
  if (norm.instance_levels() < 0 || norm.instance_levels() > depth || (norm.instance_levels() > 0 && !batch_kind)) {
    throw ModelError("UNet3d: norm.instance_levels must be 0.." + std::to_string(depth) +
                     " and only with a batch kind; got " + std::to_string(norm.instance_levels()) + " with " +
                     to_string(norm.kind()));
  }
  if (!(norm.instance_fraction() > 0.0 && norm.instance_fraction() <= 1.0)) {
    throw ModelError("UNet3d: norm.instance_fraction must be in (0, 1], got " +
                     std::to_string(norm.instance_fraction()));
  }
  int64_t in = options.in_channels();
  for (int64_t l = 0; l < depth; ++l) {
    const auto& k = kernels[static_cast<size_t>(l)];
    const int64_t f = features(l);
    // The first instance_levels encoder levels (IBN): instance norm on all
    // or (instance_fraction < 1) some of their channels.
    const int64_t instance = l < norm.instance_levels() ? instance_channels(norm, f) : 0;
    encoder_a_.push_back(register_module("encoder" + std::to_string(l) + "a",
                                         ConvBlock(in, f, dhw(k), dhw(strides[static_cast<size_t>(l)]), norm,
                                                   options.negative_slope(), options.dropout(), instance)));
    encoder_b_.push_back(register_module("encoder" + std::to_string(l) + "b",
                                         ConvBlock(f, f, dhw(k), Int3{1, 1, 1}, norm, options.negative_slope(),
                                                   options.dropout(), instance)));
    in = f;
  }
  // Decoder level l (depth-2 ... 0), stored in that order.
  for (int64_t l = depth - 2; l >= 0; --l) {
    const auto& k = kernels[static_cast<size_t>(l)];
    const int64_t f = features(l);
    const std::string n = std::to_string(l);
    up_.push_back(register_module(
        "up" + n, Upsample(UpsampleOptions(features(l + 1), f, dhw(strides[static_cast<size_t>(l + 1)]))
                              .kind(options.upsample()))));
    decoder_a_.push_back(register_module(
        "decoder" + n + "a",
        ConvBlock(2 * f, f, dhw(k), Int3{1, 1, 1}, options.norm(), options.negative_slope(), options.dropout())));
    decoder_b_.push_back(register_module(
        "decoder" + n + "b",
        ConvBlock(f, f, dhw(k), Int3{1, 1, 1}, options.norm(), options.negative_slope(), options.dropout())));
    heads_.push_back(
        register_module("head" + n, torch::nn::Conv3d(torch::nn::Conv3dOptions(f, options.num_classes(), 1))));
  }
  if (depth == 1) {
    heads_.push_back(register_module(
        "head0", torch::nn::Conv3d(torch::nn::Conv3dOptions(features(0), options.num_classes(), 1))));
  }
}

Int3 total_stride(const UNet3dOptions& o) {
  Int3 t{1, 1, 1};
  if (o.strides().empty()) {
    for (int64_t l = 1; l < o.depth(); ++l) t = {t[0] * 2, t[1] * 2, t[2] * 2};
  } else {
    for (const auto& s : o.strides()) t = {t[0] * s[0], t[1] * s[1], t[2] * s[2]};
  }
  return t;
}

std::array<int64_t, 3> UNet3dImpl::total_stride() const { return models::total_stride(options); }

std::vector<torch::Tensor> UNet3dImpl::forward_all(const torch::Tensor& x, const torch::Tensor& domain_ids) {
  MEDSEG_CHECK(x.dim() == 5 && x.size(1) == options.in_channels(), "UNet3d expects (N, ", options.in_channels(),
              ", D, H, W) input, got ", x.sizes());
  const auto t = total_stride();
  MEDSEG_CHECK(x.size(2) % t[2] == 0 && x.size(3) % t[1] == 0 && x.size(4) % t[0] == 0,
              "UNet3d input size (D, H, W) = ", x.sizes().slice(2), " is not divisible by the total stride (",
              t[2], ", ", t[1], ", ", t[0], "); pad the input or choose another patch size");
  std::vector<torch::Tensor> skips;
  torch::Tensor y = x;
  for (size_t l = 0; l < encoder_a_.size(); ++l) {
    y = encoder_b_[l]->forward(encoder_a_[l]->forward(y, domain_ids), domain_ids);
    skips.push_back(y);
  }
  std::vector<torch::Tensor> outputs;  // lowest resolution first, reversed below
  const bool all_heads = options.deep_supervision() && is_training();
  for (size_t i = 0; i < up_.size(); ++i) {
    const size_t level = skips.size() - 2 - i;
    y = up_[i]->forward(y);
    y = torch::cat({y, skips[level]}, 1);
    y = decoder_b_[i]->forward(decoder_a_[i]->forward(y, domain_ids), domain_ids);
    if (all_heads || level == 0) outputs.push_back(heads_[i]->forward(y));
  }
  if (up_.empty()) outputs.push_back(heads_[0]->forward(y));
  std::reverse(outputs.begin(), outputs.end());
  return outputs;
}

torch::Tensor UNet3dImpl::forward(const torch::Tensor& x, const torch::Tensor& domain_ids) {
  return forward_all(x, domain_ids).front();
}

void UNet3dImpl::pretty_print(std::ostream& stream) const {
  stream << "medseg::models::UNet3d(in_channels=" << options.in_channels() << ", num_classes="
         << options.num_classes() << ", base_features=" << options.base_features() << ", depth=" << options.depth()
         << ", norm=" << to_string(options.norm().kind()) << ")";
}

}  // namespace medseg::models
