#include "models/onednn_unet3d.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/check.h"
#include "models/cpu_features.h"
#include "models/direct_conv3x3x3.h"

namespace medseg::models {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;
using FoldedConv = InferenceUNet3d::FoldedConv;

struct Conv {
  dnnl::convolution_forward primitive;
  memory weights, bias;
  memory::desc dst_md;
  /// When the producer's layout is not the one this convolution's kernel
  /// reads (e.g. the head's GEMM reads plain NCDHW, the 3x3x3 kernels
  /// channels-last), the input is reordered into `src` first.
  bool reorder_input = false;
  dnnl::reorder input_reorder;
  memory src;
  /// The producer's layout is the kernel's under another name (8 channels:
  /// NDHWC and nCdhw8c are the same bytes): read in place as `src_md`.
  bool alias_input = false;
  memory::desc src_md;
  /// Set when the layer runs on direct_conv instead of `primitive`.
  bool direct = false;
  std::vector<float> direct_weights, direct_bias;
  /// IBN-a's instance channels: normalized after the convolution (which then
  /// has no post-op), followed by LeakyReLU on every channel.
  InferenceUNet3d::InstanceChannels instance;
};

/// Where a logical activation element lives: channel-blocked NCDHW (block
/// 1 = plain NCDHW, 8 or 16 = nCdhw8c/16c) or channels-last (NDHWC), the
/// layouts oneDNN's kernels use here. Offsets are strides, and the channel
/// part a shift and a mask (blocks are powers of two): no division per
/// element.
struct Layout {
  int64_t channels = 0;
  int64_t d = 0, h = 0, w = 0;
  int64_t sn = 0, sz = 0, sy = 0, sx = 0;  // strides of n, z, y, x
  int64_t s_block = 0, shift = 0, mask = 0;  // channel c: (c >> shift) * s_block + (c & mask)
  Tag tag = Tag::undef;

  int64_t voxel(int64_t n, int64_t z, int64_t y, int64_t x) const { return n * sn + z * sz + y * sy + x * sx; }
  int64_t channel(int64_t c) const { return (c >> shift) * s_block + (c & mask); }
};

/// The Layout of `md`; throws ModelError for one not listed there.
Layout layout_of(const memory::desc& md) {
  const Dt dt = md.data_type();
  const memory::dims dims = md.dims();
  const int64_t c = dims[1], d = dims[2], h = dims[3], w = dims[4];
  Layout l{c, d, h, w};
  l.tag = Tag::ndhwc;
  if (md == memory::desc(dims, dt, Tag::ndhwc)) {
    l.sx = c, l.sy = w * c, l.sz = h * w * c, l.sn = d * h * w * c;
    l.s_block = 0, l.shift = 0, l.mask = -1;  // c itself
    return l;
  }
  for (const auto& [log2, tag] : {std::pair<int64_t, Tag>{0, Tag::ncdhw}, {3, Tag::nCdhw8c}, {4, Tag::nCdhw16c}}) {
    if (md == memory::desc(dims, dt, tag)) {
      const int64_t b = int64_t{1} << log2, blocks = (c + b - 1) / b;
      l.sx = b, l.sy = w * b, l.sz = h * w * b, l.s_block = d * h * w * b, l.sn = blocks * l.s_block;
      l.shift = log2, l.mask = b - 1, l.tag = tag;
      return l;
    }
  }
  throw ModelError("oneDNN chose an activation layout medseg cannot read");
}

/// The decoder's input in one pass: pixel shuffle of the up-sampling
/// convolution's output (channel c·S + sub lands at sub's offset in the finer
/// grid, as pixel_shuffle_3d) into channels [0, up), the skip into
/// [up, up + skip). Channels a blocked `cat` pads with are never written
/// (they stay zero).
class ShuffleConcat {
 public:
  /// Channel offsets once per plan: the destination's, the skip's, and the
  /// up buffer's per sub-position. The grids fit (checked by the plan): the
  /// skip's is the destination's, the up buffer's that divided by `s`.
  ShuffleConcat(int64_t n_batch, int64_t up_channels, const Int3& s, const Layout& up, const Layout& skip,
                const Layout& cat)
      : n_batch_(n_batch), up_channels_(up_channels), s_(s), up_(up), skip_(skip), cat_(cat) {
    const int64_t S = s[0] * s[1] * s[2];
    for (int64_t c = 0; c < cat.channels; ++c) to_.push_back(cat.channel(c));
    for (int64_t c = 0; c < cat.channels - up_channels; ++c) from_skip_.push_back(skip.channel(c));
    for (int64_t sub = 0; sub < S; ++sub) {
      for (int64_t c = 0; c < up_channels; ++c) from_up_.push_back(up.channel(c * S + sub));
      // sub = (z % s0) * s1 * s2 + (y % s1) * s2 + x % s2, as pixel_shuffle_3d
      const int64_t dz = sub / (s[1] * s[2]), dy = (sub / s[2]) % s[1], dx = sub % s[2];
      cat_delta_.push_back(cat.voxel(0, dz, dy, dx));
      skip_delta_.push_back(skip.voxel(0, dz, dy, dx));
    }
    // Where the skip's layout is the destination's shifted by whole channel
    // blocks (oneDNN's AVX2 kernels: both nCdhw8c) or both are channels-last,
    // the skip is copied in runs instead of element by element.
    skip_by_blocks_ = skip.tag == cat.tag && skip.shift == cat.shift && skip.shift > 0 &&
                      (up_channels & cat.mask) == 0 && skip.channels % (cat.mask + 1) == 0;
    skip_by_voxel_ = skip.tag == Tag::ndhwc && cat.tag == Tag::ndhwc;
  }

  /// T: the element, moved as it is (float, or the bits of a bfloat16).
  template <typename T>
  void operator()(const T* up_data, const T* skip_data, T* cat_data) const {
    const Int3& s = s_;
    const int64_t S = s[0] * s[1] * s[2], skip_channels = cat_.channels - up_channels_;
    const int64_t* to_skip = to_.data() + up_channels_;
    // Coarse voxel by coarse voxel: each is read once while it is in cache
    // and written to its S children (fine voxel by fine voxel, the coarse
    // buffer was read S times over: 7.3 instead of 5.8 ms per bf16 batch of
    // two 64^3 windows, a forward of 69 ms; what is left is memory traffic).
    at::parallel_for(0, n_batch_ * up_.d, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t cz = i % up_.d, n = i / up_.d;
        for (int64_t cy = 0; cy < up_.h; ++cy) {
          for (int64_t cx = 0; cx < up_.w; ++cx) {
            const T* u = up_data + up_.voxel(n, cz, cy, cx);
            const int64_t fine = cat_.voxel(n, cz * s[0], cy * s[1], cx * s[2]);
            const int64_t fine_skip = skip_.voxel(n, cz * s[0], cy * s[1], cx * s[2]);
            for (int64_t sub = 0; sub < S; ++sub) {
              T* out = cat_data + fine + cat_delta_[static_cast<size_t>(sub)];
              const int64_t* u_off = from_up_.data() + sub * up_channels_;
              for (int64_t c = 0; c < up_channels_; ++c) out[to_[static_cast<size_t>(c)]] = u[u_off[c]];
              if (skip_by_blocks_) continue;
              const T* k = skip_data + fine_skip + skip_delta_[static_cast<size_t>(sub)];
              if (skip_by_voxel_) {
                for (int64_t c = 0; c < skip_channels; ++c) out[up_channels_ + c] = k[c];
                continue;
              }
              for (int64_t c = 0; c < skip_channels; ++c) out[to_skip[c]] = k[from_skip_[static_cast<size_t>(c)]];
            }
          }
        }
      }
    });
    if (!skip_by_blocks_) return;
    // The skip's channel blocks are the destination's last ones, voxel for
    // voxel: whole-block copies instead of one element at a time.
    const int64_t block_elements = skip_.s_block, skip_blocks = skip_.sn / skip_.s_block;
    at::parallel_for(0, n_batch_ * skip_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t n = i / skip_blocks, b = i % skip_blocks;
        std::memcpy(cat_data + n * cat_.sn + (up_channels_ >> cat_.shift) * cat_.s_block + b * cat_.s_block,
                    skip_data + n * skip_.sn + b * skip_.s_block, static_cast<size_t>(block_elements) * sizeof(T));
      }
    });
  }

 private:
  int64_t n_batch_, up_channels_;
  Int3 s_;
  Layout up_, skip_, cat_;
  std::vector<int64_t> to_, from_skip_, from_up_;
  std::vector<int64_t> cat_delta_, skip_delta_;  // per sub: the child's offset from the first child
  bool skip_by_blocks_ = false, skip_by_voxel_ = false;
};

float load(float v) { return v; }
float load(std::uint16_t bits) {  // bfloat16: the high half of a float32
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float v;
  std::memcpy(&v, &wide, sizeof v);
  return v;
}
void store(float v, float* out) { *out = v; }
void store(float v, std::uint16_t* out) { *out = c10::BFloat16(v).x; }  // round to nearest even

/// The rest of an IBN-a split layer after its convolution, in place:
/// channels [0, k) of each sample normalized over the window (mean and biased
/// variance, as instance_norm), scaled and shifted; then LeakyReLU on every
/// channel (the post-op the other layers fuse). Any layout Layout reads. T:
/// float, or the bits of a bfloat16 (arithmetic in float32, sums in double).
template <typename T>
void instance_channels_leaky_relu(T* data, const Layout& l, int64_t batch, const InferenceUNet3d::InstanceChannels& in,
                                  float slope) {
  const int64_t k = in.count, slices = batch * l.d;
  const double voxels = static_cast<double>(l.d * l.h * l.w);
  std::vector<int64_t> offset(static_cast<size_t>(l.channels));
  for (int64_t c = 0; c < l.channels; ++c) offset[static_cast<size_t>(c)] = l.channel(c);
  // Sums per (sample, z slice, channel), reduced after: each slice is one task.
  std::vector<double> sums(static_cast<size_t>(slices * k * 2), 0.0);
  at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / l.d, z = i % l.d;
      double* sum = sums.data() + i * k * 2;
      for (int64_t y = 0; y < l.h; ++y) {
        for (int64_t x = 0; x < l.w; ++x) {
          const T* v = data + l.voxel(n, z, y, x);
          for (int64_t c = 0; c < k; ++c) {
            const double value = load(v[offset[static_cast<size_t>(c)]]);
            sum[2 * c] += value;
            sum[2 * c + 1] += value * value;
          }
        }
      }
    }
  });
  // y = x * scale + shift per (sample, channel): 1 and 0 outside [0, k).
  std::vector<float> scale(static_cast<size_t>(batch * l.channels), 1.0f), shift(scale.size(), 0.0f);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < k; ++c) {
      double sum = 0.0, square = 0.0;
      for (int64_t z = 0; z < l.d; ++z) {
        sum += sums[static_cast<size_t>(((n * l.d + z) * k + c) * 2)];
        square += sums[static_cast<size_t>(((n * l.d + z) * k + c) * 2 + 1)];
      }
      const double mean = sum / voxels, var = std::max(0.0, square / voxels - mean * mean);
      double a = 1.0 / std::sqrt(var + in.eps), b = -mean * a;
      if (in.weight.defined()) {
        const double g = in.weight.data_ptr<float>()[c], beta = in.bias.data_ptr<float>()[c];
        a *= g;
        b = b * g + beta;
      }
      scale[static_cast<size_t>(n * l.channels + c)] = static_cast<float>(a);
      shift[static_cast<size_t>(n * l.channels + c)] = static_cast<float>(b);
    }
  }
  at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / l.d, z = i % l.d;
      const float* a = scale.data() + n * l.channels;
      const float* b = shift.data() + n * l.channels;
      for (int64_t y = 0; y < l.h; ++y) {
        for (int64_t x = 0; x < l.w; ++x) {
          T* v = data + l.voxel(n, z, y, x);
          for (int64_t c = 0; c < l.channels; ++c) {
            T* e = v + offset[static_cast<size_t>(c)];
            const float value = load(*e) * a[c] + b[c];
            store(value < 0.0f ? value * slope : value, e);
          }
        }
      }
    }
  });
}

}  // namespace

struct OnednnUNet3d::Impl {
  /// Primitives and activation buffers for one input shape.
  struct Plan {
    memory::desc input_md, output_md;
    std::vector<Conv> encoder, up, decoder;
    Conv head;
    std::vector<memory> encoder_out, up_out, cat, decoder_out;
    std::vector<ShuffleConcat> shuffle;
  };

  InferenceUNet3d::FoldedLayers layers;
  float slope = 0.01f;
  Dt dt = Dt::f32;  // of the weights and activations; the logits are float32
  bool direct_kernels = false;  // layers that fit run on direct_conv
  bool direct_first = false;    // the same for layers reading one plain input channel (the first)
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::map<std::array<int64_t, 5>, Plan> plans;
  std::mutex mutex;

  /// 3x3x3, stride 1, padding 1, float32 with LeakyReLU, channels as
  /// direct_conv_fits(): what direct_conv computes.
  /// The first layer reads the float32 input, so it fits in a bf16
  /// network too (the kernel then writes bf16).
  bool fits_direct(const FoldedConv& l, Dt dst_dt, bool activation) const {
    const auto w = l.weight.sizes();
    if (w.size() != 5 || !direct_conv_fits(w[1], w[0]) || w[2] != 3 || w[3] != 3 || w[4] != 3 || !activation ||
        dst_dt != dt || l.stride != std::vector<int64_t>{1, 1, 1} || l.padding != std::vector<int64_t>{1, 1, 1}) {
      return false;
    }
    return w[1] == 1 ? direct_first : direct_kernels && dt == Dt::f32;
  }

  /// Whether `a` and `b` describe the same bytes: equal, or 8 channels as
  /// NDHWC and as nCdhw8c.
  static bool same_bytes(const memory::desc& a, const memory::desc& b) {
    if (a == b) return true;
    const memory::dims d = a.dims();
    if (d != b.dims() || a.data_type() != b.data_type() || d.size() != 5 || d[1] != 8) return false;
    const auto is_8c = [&](const memory::desc& m) {
      return m == memory::desc(d, m.data_type(), Tag::ndhwc) || m == memory::desc(d, m.data_type(), Tag::nCdhw8c);
    };
    return is_8c(a) && is_8c(b);
  }

  /// How `c` reads `input` where its kernel wants `wanted`: as it is, under
  /// another name, or reordered into its own buffer.
  void connect(Conv& c, const memory::desc& input, const memory::desc& wanted) {
    if (wanted == input) return;
    if (same_bytes(input, wanted)) {
      c.alias_input = true;
      c.src_md = wanted;
      return;
    }
    c.reorder_input = true;
    c.src = memory(wanted, engine);
    c.input_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine, input, engine, wanted));
  }

  /// The layer's bias as contiguous float32 (zeros where it has none).
  static torch::Tensor float_bias(const FoldedConv& l) {
    return l.bias.defined() ? l.bias.to(torch::kFloat).contiguous() : torch::zeros({l.weight.size(0)});
  }

  Conv make_direct(const FoldedConv& l, const memory::desc& input) {
    Conv c;
    c.direct = true;
    const memory::dims in = input.dims();
    const int64_t out_channels = l.weight.size(0);
    connect(c, input, memory::desc(in, Dt::f32, in[1] == 1 ? Tag::ncdhw : Tag::nCdhw8c));
    c.dst_md = memory::desc({in[0], out_channels, in[2], in[3], in[4]}, dt, Tag::nCdhw8c);
    const torch::Tensor w = l.weight.to(torch::kFloat).contiguous();
    c.direct_weights = pack_direct_conv_weights(w.data_ptr<float>(), out_channels, in[1]);
    const torch::Tensor b = float_bias(l);
    c.direct_bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + out_channels);
    return c;
  }

  /// A convolution reading `input` (reordered first if its kernel wants
  /// another layout) into a new buffer of the layout oneDNN picks, or `dst_tag`.
  Conv make_conv(const FoldedConv& l, const memory::desc& input, Tag dst_tag, bool activation) {
    return make_conv(l, input, dst_tag, dt, activation);
  }
  Conv make_conv(const FoldedConv& l, const memory::desc& input, Tag dst_tag, Dt dst_dt, bool activation) {
    if (dst_tag == Tag::any && fits_direct(l, dst_dt, activation)) return make_direct(l, input);
    const memory::dims wdims(l.weight.sizes().begin(), l.weight.sizes().end());
    const memory::dims in = input.dims();
    memory::dims out{in[0], wdims[0], 0, 0, 0};
    for (int a = 0; a < 3; ++a) out[2 + a] = (in[2 + a] + 2 * l.padding[a] - wdims[2 + a]) / l.stride[a] + 1;
    const memory::desc bmd({wdims[0]}, Dt::f32, Tag::x);
    const memory::dims stride(l.stride.begin(), l.stride.end()), padding(l.padding.begin(), l.padding.end());
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, memory::desc(in, dt, Tag::any),
        memory::desc(wdims, dt, Tag::any), bmd, memory::desc(out, dst_dt, dst_tag), stride, padding, padding);
    dnnl::primitive_attr attr;
    if (activation) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, slope, 0.0f);  // relu with alpha = LeakyReLU
      attr.set_post_ops(ops);
    }
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
    Conv c;
    c.primitive = dnnl::convolution_forward(pd);
    c.dst_md = pd.dst_desc();
    connect(c, input, pd.src_desc());
    dnnl::stream stream(engine);
    const torch::Tensor w = l.weight.contiguous();
    memory user_w({wdims, dt, Tag::oidhw}, engine, w.data_ptr());
    c.weights = memory(pd.weights_desc(), engine);
    dnnl::reorder(user_w, c.weights).execute(stream, user_w, c.weights);
    stream.wait();
    c.bias = memory(bmd, engine);
    const torch::Tensor bias = float_bias(l);
    std::memcpy(c.bias.get_data_handle(), bias.data_ptr(), static_cast<size_t>(wdims[0]) * sizeof(float));
    return c;
  }

  /// A convolution block: LeakyReLU fused, or (IBN-a's split layers) run by
  /// instance_channels_leaky_relu after the instance channels.
  Conv make_block(const FoldedConv& l, const memory::desc& input) {
    Conv c = make_conv(l, input, Tag::any, /*activation=*/l.instance.count == 0);
    c.instance = l.instance;
    return c;
  }

  Plan build(const memory::dims& input) {
    Plan p;
    p.input_md = memory::desc(input, Dt::f32, Tag::ncdhw);
    memory::desc src = p.input_md;
    for (const auto& l : layers.encoder) {
      p.encoder.push_back(make_block(l, src));
      p.encoder_out.emplace_back(p.encoder.back().dst_md, engine);
      src = p.encoder.back().dst_md;
    }
    for (size_t i = 0; i < layers.up.size(); ++i) {
      const Int3& s = layers.up_stride_dhw[i];
      const memory::dims coarse = src.dims();
      p.up.push_back(make_conv(layers.up[i], src, Tag::any, false));
      p.up_out.emplace_back(p.up.back().dst_md, engine);
      const memory::desc& skip = p.encoder_out[layers.encoder.size() - 3 - 2 * i].get_desc();
      const int64_t up_channels = p.up.back().dst_md.dims()[1] / (s[0] * s[1] * s[2]);
      const memory::dims cat{coarse[0], up_channels + skip.dims()[1], coarse[2] * s[0], coarse[3] * s[1],
                             coarse[4] * s[2]};
      MEDSEG_CHECK(cat[2] == skip.dims()[2] && cat[3] == skip.dims()[3] && cat[4] == skip.dims()[4],
                   "OnednnUNet3d: up-sampled grid does not match the skip's");
      const Layout up_layout = layout_of(p.up.back().dst_md), skip_layout = layout_of(skip);
      // The concatenation in the layout oneDNN gave the up-sampling's output:
      // the decoder's kernel reads it without a reorder.
      const memory::desc cat_md(cat, dt, up_layout.tag);
      p.cat.emplace_back(cat_md, engine);
      std::memset(p.cat.back().get_data_handle(), 0, cat_md.get_size());
      p.shuffle.emplace_back(cat[0], up_channels, s, up_layout, skip_layout, layout_of(cat_md));
      src = cat_md;
      for (size_t k = 0; k < 2; ++k) {
        p.decoder.push_back(make_block(layers.decoder[2 * i + k], src));
        p.decoder_out.emplace_back(p.decoder.back().dst_md, engine);
        src = p.decoder.back().dst_md;
      }
    }
    p.head = make_conv(layers.head, src, Tag::ncdhw, Dt::f32, false);
    p.output_md = p.head.dst_md;
    return p;
  }
};

bool OnednnUNet3d::supports(const InferenceUNet3d& network) {
  if (!at::hasMKLDNN()) return false;
  const auto layers = network.folded_layers();
  // bf16 only where the CPU runs it natively (oneDNN's bf16 kernels need
  // AVX-512; elsewhere InferenceUNet3d lets ATen choose).
  const bool bf16_here = cpu_features().native_bf16();
  const auto fits = [bf16_here](const FoldedConv& l) {
    return !l.norm_kept && (l.weight.scalar_type() == torch::kFloat ||
                            (l.weight.scalar_type() == torch::kBFloat16 && bf16_here));
  };
  for (const auto* list : {&layers.encoder, &layers.up, &layers.decoder}) {
    for (const auto& l : *list) {
      if (!fits(l)) return false;
    }
  }
  return fits(layers.head);
}

namespace {

/// oneDNN runs AVX2 kernels (its ISA, or the ONEDNN_MAX_CPU_ISA cap, is
/// below AVX-512): there its 8-output-channel convolutions run at about half
/// the speed of its wider ones and direct_conv runs them 1.6x faster (the
/// 16-channel ones 1.1x). With AVX-512 oneDNN's kernels are faster and kept,
/// except for a bf16 network's first layer with AMX (one input channel, which
/// AMX tiles cannot use: 9 ms per two 64^3 windows, direct_conv ~6 ms; the
/// forward 5-10 % faster). With AVX512_BF16 but no AMX (oneDNN capped) it
/// measured within noise either way, and in float32 with AVX-512 1-2 %
/// slower, so there the first layer stays with oneDNN (docs/performance.md,
/// "U-Net forward against the Conv3d ceiling").
bool onednn_runs_avx2_kernels() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2:
    case dnnl::cpu_isa::avx2_vnni:
      return true;
    default:
      return false;
  }
}

}  // namespace

OnednnUNet3d::OnednnUNet3d(const InferenceUNet3d& network, DirectKernels direct) : impl_(std::make_unique<Impl>()) {
  if (!supports(network)) {
    throw ModelError(
        "the oneDNN network runs float32 (or natively supported bf16) networks whose every norm is folded "
        "(IBN-a's: all but the instance channels)");
  }
  impl_->layers = network.folded_layers();
  impl_->slope = static_cast<float>(network.options().negative_slope());
  impl_->dt = impl_->layers.head.weight.scalar_type() == torch::kBFloat16 ? Dt::bf16 : Dt::f32;
  const bool available = direct_conv_available() && direct != DirectKernels::never;
  impl_->direct_kernels = available && (direct == DirectKernels::always || onednn_runs_avx2_kernels());
  impl_->direct_first =
      impl_->direct_kernels || (available && impl_->dt == Dt::bf16 && cpu_features().usable_amx_bf16());
}

OnednnUNet3d::~OnednnUNet3d() = default;

int OnednnUNet3d::direct_layers() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->plans.empty()) return 0;
  const Impl::Plan& p = impl_->plans.begin()->second;  // every plan makes the same choices
  int n = 0;
  for (const auto* list : {&p.encoder, &p.up, &p.decoder}) {
    for (const Conv& c : *list) n += c.direct ? 1 : 0;
  }
  return n;
}

torch::Tensor OnednnUNet3d::forward(const torch::Tensor& x_in) const {
  MEDSEG_CHECK(x_in.dim() == 5, "OnednnUNet3d expects (N, C, D, H, W) input, got ", x_in.sizes());
  const torch::Tensor x = x_in.to(torch::kFloat).contiguous();
  const std::array<int64_t, 5> key{x.size(0), x.size(1), x.size(2), x.size(3), x.size(4)};
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  auto found = m.plans.find(key);
  if (found == m.plans.end()) {
    try {
      found = m.plans.emplace(key, m.build(memory::dims(key.begin(), key.end()))).first;
    } catch (const dnnl::error& e) {
      throw ModelError(std::string("oneDNN cannot run this network: ") + e.what());
    }
  }
  Impl::Plan& p = found->second;
  dnnl::stream stream(m.engine);
  const auto run = [&](Conv& c, const memory& input, const memory& dst) {
    const memory* src = &input;
    memory alias;
    if (c.reorder_input) {
      c.input_reorder.execute(stream, {{DNNL_ARG_FROM, input}, {DNNL_ARG_TO, c.src}});
      src = &c.src;
    } else if (c.alias_input) {
      alias = memory(c.src_md, m.engine, input.get_data_handle());
      src = &alias;
    }
    if (c.direct) {
      stream.wait();
      const memory::dims d = src->get_desc().dims();
      DirectConvArgs a;
      a.input = static_cast<const float*>(src->get_data_handle());
      a.batch = d[0], a.in_channels = d[1], a.depth = d[2], a.height = d[3], a.width = d[4];
      a.out_channels = c.dst_md.dims()[1];
      a.block_stride = d[2] * d[3] * d[4] * (d[1] == 1 ? 1 : 8);
      a.batch_stride = (d[1] == 1 ? 1 : d[1] / 8) * a.block_stride;
      a.weights = c.direct_weights.data();
      a.bias = c.direct_bias.data();
      a.negative_slope = m.slope;
      a.output = dst.get_data_handle();
      a.bf16_output = c.dst_md.data_type() == Dt::bf16;
      direct_conv(a);
      return;
    }
    c.primitive.execute(stream, {{DNNL_ARG_SRC, *src},
                                 {DNNL_ARG_WEIGHTS, c.weights},
                                 {DNNL_ARG_BIAS, c.bias},
                                 {DNNL_ARG_DST, dst}});
    if (c.instance.count == 0) return;
    stream.wait();
    const Layout layout = layout_of(c.dst_md);
    const int64_t batch = c.dst_md.dims()[0];
    if (c.dst_md.data_type() == Dt::f32) {
      instance_channels_leaky_relu(static_cast<float*>(dst.get_data_handle()), layout, batch, c.instance, m.slope);
    } else {
      instance_channels_leaky_relu(static_cast<std::uint16_t*>(dst.get_data_handle()), layout, batch, c.instance,
                                   m.slope);
    }
  };
  memory input(p.input_md, m.engine, x.data_ptr());
  const memory* src = &input;
  for (size_t i = 0; i < p.encoder.size(); ++i) {
    run(p.encoder[i], *src, p.encoder_out[i]);
    src = &p.encoder_out[i];
  }
  for (size_t i = 0; i < p.up.size(); ++i) {
    run(p.up[i], *src, p.up_out[i]);
    stream.wait();
    const memory& skip = p.encoder_out[p.encoder.size() - 3 - 2 * i];
    if (m.dt == Dt::f32) {
      p.shuffle[i](static_cast<const float*>(p.up_out[i].get_data_handle()),
                   static_cast<const float*>(skip.get_data_handle()), static_cast<float*>(p.cat[i].get_data_handle()));
    } else {
      p.shuffle[i](static_cast<const std::uint16_t*>(p.up_out[i].get_data_handle()),
                   static_cast<const std::uint16_t*>(skip.get_data_handle()),
                   static_cast<std::uint16_t*>(p.cat[i].get_data_handle()));
    }
    run(p.decoder[2 * i], p.cat[i], p.decoder_out[2 * i]);
    run(p.decoder[2 * i + 1], p.decoder_out[2 * i], p.decoder_out[2 * i + 1]);
    src = &p.decoder_out[2 * i + 1];
  }
  const auto od = p.output_md.dims();
  torch::Tensor out = torch::empty({od[0], od[1], od[2], od[3], od[4]}, torch::kFloat);
  memory output(p.output_md, m.engine, out.data_ptr());
  run(p.head, *src, output);
  stream.wait();
  return out;
}

std::function<torch::Tensor(const torch::Tensor&)> folded_forward(const UNet3d& model, int64_t domain, bool bf16) {
  const auto network = std::make_shared<const InferenceUNet3d>(model, domain, InferenceUNet3dOptions().bf16(bf16));
  // 1.1-1.7x faster per window from AVX2 kernels to AMX (docs/performance.md,
  // "U-Net forward against the Conv3d ceiling").
  if (OnednnUNet3d::supports(*network)) {
    const auto direct = std::make_shared<const OnednnUNet3d>(*network);
    return [direct](const torch::Tensor& x) { return direct->forward(x); };
  }
  return [network](const torch::Tensor& x) { return network->forward(x); };
}

}  // namespace medseg::models
