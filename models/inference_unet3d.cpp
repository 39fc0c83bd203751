#include "models/inference_unet3d.h"

#include <torch/torch.h>

#include "models/autocast.h"
#include "models/check.h"
#include "models/cpu_features.h"
#include "models/domain_batch_norm.h"
#include "models/instance_batch_norm.h"

namespace medseg::models {
namespace {

std::vector<int64_t> to_vector(at::IntArrayRef values) { return {values.begin(), values.end()}; }

template <typename Impl>
const Impl& child(const UNet3d& model, const std::string& name) {
  const auto children = model->named_children();
  const auto* found = children.find(name);
  MEDSEG_CHECK(found != nullptr, "InferenceUNet3d: the U-Net has no module '", name, "'");
  const auto* impl = (*found)->as<Impl>();
  MEDSEG_CHECK(impl != nullptr, "InferenceUNet3d: module '", name, "' is not of the expected type");
  return *impl;
}

// The running statistics of one domain are all eval mode uses unless the
// layer normalizes with batch statistics (none tracked, test-batch
// statistics, or AdaBN in progress): only then is it not an affine map.
bool foldable(const DomainBatchNormImpl& bn) {
  return bn.options.track_running_stats() && !bn.options.test_batch_stats() && !bn.is_adapting();
}

// Row `domain` of a (C) or (K, C) tensor.
torch::Tensor domain_row(const torch::Tensor& t, int64_t domain) { return t.dim() == 2 ? t.select(0, domain) : t; }

}  // namespace

InferenceUNet3d::InferenceUNet3d(const UNet3d& model, int64_t domain, InferenceUNet3dOptions options)
    : unet_options_(model->options), options_(options), domain_(domain),
      // oneDNN's bf16 convolution needs AVX-512 (it throws without); where bf16
      // is only emulated, at::conv3d chooses the kernel.
      use_onednn_(at::hasMKLDNN() && (!options.bf16() || cpu_features().native_bf16())) {
  MEDSEG_CHECK(!model->is_training(), "InferenceUNet3d: the U-Net must be in eval mode");
  torch::NoGradGuard no_grad;
  const int64_t depth = unet_options_.depth();
  for (int64_t l = 0; l < depth; ++l) {
    for (const char* part : {"a", "b"}) {
      encoder_.push_back(conv_block(child<ConvBlockImpl>(model, "encoder" + std::to_string(l) + part), domain));
    }
  }
  for (int64_t l = depth - 2; l >= 0; --l) {
    const std::string n = std::to_string(l);
    const auto& up = child<UpsampleImpl>(model, "up" + n);
    up_stride_dhw_.push_back(up.options.stride());
    if (up.options.kind() == UpsampleKind::kTransposedConv) {
      // The exact 1x1x1 conv + pixel-shuffle equivalent.
      up_.push_back(plain_conv(transposed_to_shuffle_weight(up.transposed->weight),
                               transposed_to_shuffle_bias(up.transposed->bias, up.options.stride())));
    } else {
      up_.push_back(plain_conv(up.conv->weight, up.conv->bias));
    }
    for (const char* part : {"a", "b"}) {
      decoder_.push_back(conv_block(child<ConvBlockImpl>(model, "decoder" + n + part), domain));
    }
  }
  const auto& head = child<torch::nn::Conv3dImpl>(model, "head0");
  head_ = plain_conv(head.weight, head.bias);
}

InferenceUNet3d::ConvLayer InferenceUNet3d::plain_conv(const torch::Tensor& weight, const torch::Tensor& bias) const {
  ConvLayer layer;
  const auto format = options_.channels_last() ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous;
  const auto dtype = options_.bf16() ? torch::kBFloat16 : torch::kFloat;
  layer.weight = weight.detach().to(dtype).contiguous(format);
  layer.bias = bias.defined() ? bias.detach().to(dtype).contiguous() : torch::Tensor();
  layer.stride = {1, 1, 1};
  layer.padding = {0, 0, 0};
  return layer;
}

InferenceUNet3d::ConvLayer InferenceUNet3d::conv_block(const ConvBlockImpl& block, int64_t domain) {
  const auto& conv = *block.conv;
  torch::Tensor weight = conv.weight.detach().to(torch::kDouble);
  torch::Tensor bias = conv.bias.defined() ? conv.bias.detach().to(torch::kDouble)
                                           : torch::zeros({weight.size(0)}, torch::kDouble);
  torch::nn::AnyModule kept;
  InstanceChannels instance;
  const auto* bn = block.norm.ptr()->as<DomainBatchNormImpl>();
  const auto* split = block.norm.ptr()->as<InstanceBatchNormImpl>();
  if (bn != nullptr && foldable(*bn)) {
    fold_batch_norm(*bn, domain, weight, bias);
  } else if (split != nullptr && foldable(*split->batch)) {
    // IBN-a: the batch half (the last channels) folds like any batch norm;
    // the instance half depends on the window and runs after the convolution.
    const int64_t k = split->instance_channels();
    torch::Tensor w_batch = weight.narrow(0, k, weight.size(0) - k);
    torch::Tensor b_batch = bias.narrow(0, k, bias.size(0) - k);
    fold_batch_norm(*split->batch, domain, w_batch, b_batch);
    weight = torch::cat({weight.narrow(0, 0, k), w_batch});
    bias = torch::cat({bias.narrow(0, 0, k), b_batch});
    const auto& in = *split->instance;
    instance.count = k;
    instance.eps = in.options.eps();
    if (in.options.affine()) {
      instance.weight = in.weight.detach().to(torch::kFloat).contiguous();
      instance.bias = in.bias.detach().to(torch::kFloat).contiguous();
    }
  } else if (!block.norm.ptr()->as<torch::nn::IdentityImpl>()) {
    kept = block.norm;
  }
  ConvLayer layer = plain_conv(weight.to(torch::kFloat), bias.to(torch::kFloat));
  layer.stride = to_vector(conv.options.stride());
  layer.padding = to_vector(c10::get<torch::ExpandingArray<3>>(conv.options.padding()));
  layer.norm = kept;
  layer.instance = instance;
  return layer;
}

void InferenceUNet3d::fold_batch_norm(const DomainBatchNormImpl& bn, int64_t domain, torch::Tensor& weight,
                                      torch::Tensor& bias) {
  MEDSEG_CHECK(domain >= 0 && domain < bn.num_domains(), "InferenceUNet3d: domain ", domain, " is out of range for ",
               bn.num_domains(), " domain(s)");
  // Eval batch norm is y = (z - mean) * scale + beta per channel, with
  // scale = gamma / sqrt(var + eps): multiply it into the filters.
  const torch::Tensor mean = domain_row(bn.running_mean, domain).to(torch::kDouble);
  const torch::Tensor var = domain_row(bn.running_var, domain).to(torch::kDouble);
  torch::Tensor scale = (var + bn.options.eps()).rsqrt();
  torch::Tensor beta = torch::zeros_like(mean);
  if (bn.options.affine()) {
    scale = scale * domain_row(bn.weight, domain).to(torch::kDouble);
    beta = domain_row(bn.bias, domain).to(torch::kDouble);
  }
  weight = weight * scale.view({-1, 1, 1, 1, 1});
  bias = (bias - mean) * scale + beta;
  ++folded_;
}

InferenceUNet3d::FoldedLayers InferenceUNet3d::folded_layers() const {
  const auto folded = [](const ConvLayer& l) {
    return FoldedConv{l.weight, l.bias, l.stride, l.padding, !l.norm.is_empty(), l.instance};
  };
  FoldedLayers layers;
  for (const auto& l : encoder_) layers.encoder.push_back(folded(l));
  for (const auto& l : up_) layers.up.push_back(folded(l));
  for (const auto& l : decoder_) layers.decoder.push_back(folded(l));
  layers.up_stride_dhw = up_stride_dhw_;
  layers.head = folded(head_);
  return layers;
}

torch::Tensor InferenceUNet3d::run_conv(const ConvLayer& layer, const torch::Tensor& x) const {
  if (!use_onednn_) return at::conv3d(x, layer.weight, layer.bias, layer.stride, layer.padding);
  // at::conv3d sends a batch of one with few channels or a small volume
  // (N·C·D·H <= 20480: the first layer, every layer below 32^3) to ATen's
  // slow im2col convolution instead of oneDNN — 3-6x slower per window here.
  // Autocast does not cover mkldnn_convolution, so cast the input here.
  return at::mkldnn_convolution(x.to(layer.weight.scalar_type()), layer.weight, layer.bias, layer.padding,
                                layer.stride, {1, 1, 1}, 1);
}

torch::Tensor InferenceUNet3d::run_block(const ConvLayer& layer, const torch::Tensor& x,
                                         const torch::Tensor& ids) const {
  torch::Tensor y = run_conv(layer, x);
  if (const int64_t k = layer.instance.count; k > 0) {
    // Statistics in float32 (a bf16 network's activations are widened for
    // them), the result written back in place.
    torch::Tensor part = y.narrow(1, 0, k);
    part.copy_(at::instance_norm(part.to(torch::kFloat), layer.instance.weight, layer.instance.bias, {}, {},
                                 /*use_input_stats=*/true, 0.0, layer.instance.eps, /*cudnn_enabled=*/false));
  }
  if (!layer.norm.is_empty()) {
    auto norm = layer.norm;  // AnyModule's forward is non-const; this copy shares the module
    y = apply_norm(norm, y, ids);
  }
  // In place: no third full-size tensor per block (oneDNN's fused post-op
  // is not reachable through LibTorch 1.13's C++ API).
  return at::leaky_relu_(y, unet_options_.negative_slope());
}

torch::Tensor InferenceUNet3d::shuffle(const torch::Tensor& x, const Int3& s) const {
  if (!options_.channels_last()) return pixel_shuffle_3d(x, s);
  // Channels-last memory is (N, D, H, W, C·sd·sh·sw): shuffle in that order so
  // the result stays channels-last with one copy.
  const int64_t n = x.size(0), c = x.size(1) / (s[0] * s[1] * s[2]);
  const int64_t d = x.size(2), h = x.size(3), w = x.size(4);
  return x.permute({0, 2, 3, 4, 1})
      .view({n, d, h, w, c, s[0], s[1], s[2]})
      .permute({0, 1, 5, 2, 6, 3, 7, 4})
      .reshape({n, d * s[0], h * s[1], w * s[2], c})
      .permute({0, 4, 1, 2, 3});
}

torch::Tensor InferenceUNet3d::forward(const torch::Tensor& x_in) const {
  MEDSEG_CHECK(x_in.dim() == 5 && x_in.size(1) == unet_options_.in_channels(), "InferenceUNet3d expects (N, ",
               unet_options_.in_channels(), ", D, H, W) input, got ", x_in.sizes());
  const auto t = total_stride(unet_options_);
  MEDSEG_CHECK(x_in.size(2) % t[2] == 0 && x_in.size(3) % t[1] == 0 && x_in.size(4) % t[0] == 0,
               "InferenceUNet3d input size (D, H, W) = ", x_in.sizes().slice(2),
               " is not divisible by the total stride (", t[2], ", ", t[1], ", ", t[0], ")");
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast(options_.bf16());
  const torch::Tensor ids = torch::full({x_in.size(0)}, domain_, torch::kLong);
  torch::Tensor y = options_.channels_last() ? x_in.contiguous(at::MemoryFormat::ChannelsLast3d) : x_in;
  std::vector<torch::Tensor> skips;
  for (size_t l = 0; l < encoder_.size(); l += 2) {
    y = run_block(encoder_[l + 1], run_block(encoder_[l], y, ids), ids);
    skips.push_back(y);
  }
  for (size_t i = 0; i < up_.size(); ++i) {
    y = shuffle(run_conv(up_[i], y), up_stride_dhw_[i]);
    y = torch::cat({y, skips[skips.size() - 2 - i]}, 1);
    skips[skips.size() - 2 - i] = torch::Tensor();  // free the skip as soon as it is used
    y = run_block(decoder_[2 * i + 1], run_block(decoder_[2 * i], y, ids), ids);
  }
  return run_conv(head_, y).to(torch::kFloat).contiguous();
}

}  // namespace medseg::models
