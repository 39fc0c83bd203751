#include "models/architecture.h"

#include <yaml-cpp/yaml.h>

#include <limits>
#include <string>

#include "core/enum_names.h"
#include "models/detail/architecture_json.h"
#include "models/detail/yaml_json.h"

namespace medseg::models {
namespace {

using nlohmann::ordered_json;

constexpr core::EnumNames<UpsampleKind, 2> kUpsampleNames{
    "up-sampling", {{{UpsampleKind::kPixelShuffle, "pixel_shuffle"}, {UpsampleKind::kTransposedConv, "transposed_conv"}}}};

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

ordered_json triples_json(const std::vector<Int3>& triples) {
  ordered_json a = ordered_json::array();
  for (const auto& t : triples) a.push_back({t[0], t[1], t[2]});
  return a;
}

// norm.momentum: null means a cumulative average (PyTorch's momentum=None).
c10::optional<double> read_momentum(const core::Fields& f, const char* key, c10::optional<double> fallback) {
  const YAML::Node& node = f.node();
  if (!node.IsMap() || !node[key]) return fallback;
  if (node[key].IsNull()) return c10::nullopt;
  return f.get_double(key, 0.1, 0.0, 1.0);
}

// The flat keys of training configs written before the nested `norm:`
// mapping: (old key, key inside norm).
constexpr std::pair<const char*, const char*> kFlatNormAliases[] = {
    {"num_groups", "num_groups"}, {"norm_momentum", "momentum"}, {"norm_eps", "eps"},
    {"domain_affine", "domain_affine"}, {"renorm_r_max", "r_max"}, {"renorm_d_max", "d_max"},
    {"renorm_warmup_steps", "renorm_warmup_steps"}};

void read_norm(const core::Fields& n, bool complete, NormOptions& o) {
  if (complete) {
    // instance_levels/instance_fraction are optional: bundles written before them have none (0, 1).
    n.allow_only({"kind", "num_groups", "num_domains", "domain_affine", "eps", "momentum", "affine", "r_max", "d_max",
                  "renorm_warmup_steps", "instance_levels", "instance_fraction"});
    n.require({"kind", "num_groups", "num_domains", "domain_affine", "eps", "momentum", "affine", "r_max", "d_max",
               "renorm_warmup_steps"});
  } else {
    n.allow_only({"kind", "num_groups", "domain_affine", "eps", "momentum", "affine", "r_max", "d_max",
                  "renorm_warmup_steps", "instance_levels", "instance_fraction"});
  }
  o.kind(n.get_parsed("kind", o.kind(), parse_norm_kind));
  o.num_groups(n.get_int("num_groups", o.num_groups(), 1, 1024));
  if (complete) o.num_domains(n.get_int("num_domains", o.num_domains(), 1, 1024));
  o.domain_affine(n.get_bool("domain_affine", o.domain_affine()));
  o.eps(n.get_double("eps", o.eps(), 0.0, 1.0));
  o.momentum(read_momentum(n, "momentum", o.momentum()));
  o.affine(n.get_bool("affine", o.affine()));
  o.r_max(n.get_double("r_max", o.r_max(), 1.0, 100.0));
  o.d_max(n.get_double("d_max", o.d_max(), 0.0, 100.0));
  o.renorm_warmup_steps(n.get_int("renorm_warmup_steps", o.renorm_warmup_steps(), 0, kMaxInt));
  o.instance_levels(n.get_int("instance_levels", o.instance_levels(), 0, 8));
  if (o.instance_levels() > 0 && o.kind() != NormKind::kBatch && o.kind() != NormKind::kBatchRenorm) {
    n.fail("instance_levels", "applies to batch norm (kind batch or batch_renorm), not to " + to_string(o.kind()));
  }
  o.instance_fraction(n.get_double("instance_fraction", o.instance_fraction(), 0.0, 1.0));
  if (n.has("instance_fraction") && o.instance_fraction() <= 0.0) {
    n.fail("instance_fraction", "must be more than 0 (the share of an IBN level's channels that instance norm takes)");
  }
  if (n.has("instance_fraction") && o.instance_levels() == 0) {
    n.fail("instance_fraction", "applies only with instance_levels > 0");
  }
}

// Older configs: `norm: batch` and flat norm_* keys beside it.
void read_flat_norm(const core::Fields& m, NormOptions& o) {
  o.kind(m.get_parsed("norm", o.kind(), parse_norm_kind));
  o.num_groups(m.get_int("num_groups", o.num_groups(), 1, 1024));
  o.domain_affine(m.get_bool("domain_affine", o.domain_affine()));
  o.eps(m.get_double("norm_eps", o.eps(), 0.0, 1.0));
  o.momentum(read_momentum(m, "norm_momentum", o.momentum()));
  o.r_max(m.get_double("renorm_r_max", o.r_max(), 1.0, 100.0));
  o.d_max(m.get_double("renorm_d_max", o.d_max(), 0.0, 100.0));
  o.renorm_warmup_steps(m.get_int("renorm_warmup_steps", o.renorm_warmup_steps(), 0, kMaxInt));
}

std::vector<Int3> read_levels(const core::Fields& m, const char* key, std::int64_t max, std::int64_t depth,
                              const std::vector<Int3>& fallback) {
  if (!m.has(key)) return fallback;
  std::vector<Int3> levels;
  for (const auto& t : m.get_int_triples(key, 1, max)) levels.push_back({t[0], t[1], t[2]});
  if (!levels.empty() && static_cast<std::int64_t>(levels.size()) != depth) {
    m.fail(key, std::to_string(levels.size()) + " levels given for depth " + std::to_string(depth) +
                    " (or none for the default)");
  }
  return levels;
}

}  // namespace

namespace detail {

ordered_json architecture_json(const UNet3dOptions& o, ArchitectureKeys keys) {
  const bool complete = keys == ArchitectureKeys::kComplete;
  const NormOptions& n = o.norm();
  ordered_json norm = {{"kind", to_string(n.kind())}, {"num_groups", n.num_groups()}};
  if (complete) norm["num_domains"] = n.num_domains();
  norm["domain_affine"] = n.domain_affine();
  norm["eps"] = n.eps();
  norm["momentum"] = n.momentum() ? ordered_json(*n.momentum()) : ordered_json(nullptr);
  norm["affine"] = n.affine();
  norm["r_max"] = n.r_max();
  norm["d_max"] = n.d_max();
  norm["renorm_warmup_steps"] = n.renorm_warmup_steps();
  // Written only when used: bundles without IBN stay readable by medseg versions before it.
  if (n.instance_levels() > 0) norm["instance_levels"] = n.instance_levels();
  if (n.instance_fraction() != 1.0) norm["instance_fraction"] = n.instance_fraction();
  ordered_json a = ordered_json::object();
  if (complete) {
    a["in_channels"] = o.in_channels();
    a["num_classes"] = o.num_classes();
  }
  a["base_features"] = o.base_features();
  a["max_features"] = o.max_features();
  a["depth"] = o.depth();
  a["kernel_sizes"] = triples_json(o.kernel_sizes());
  a["strides"] = triples_json(o.strides());
  a["norm"] = norm;
  a["negative_slope"] = o.negative_slope();
  a["deep_supervision"] = o.deep_supervision();
  a["dropout"] = o.dropout();
  a["upsample"] = kUpsampleNames.name(o.upsample());
  return a;
}

}  // namespace detail

void read_architecture(const core::Fields& m, ArchitectureKeys keys, UNet3dOptions& o) {
  const bool complete = keys == ArchitectureKeys::kComplete;
  const YAML::Node& node = m.node();
  if (node.IsDefined() && !node.IsNull() && !node.IsMap()) m.fail("", "expected a mapping of keys");
  if (complete) {
    m.allow_only({"in_channels", "num_classes", "base_features", "max_features", "depth", "kernel_sizes", "strides",
                  "norm", "negative_slope", "deep_supervision", "dropout", "upsample"});
    m.require({"in_channels", "num_classes", "base_features", "max_features", "depth", "kernel_sizes", "strides",
               "norm", "negative_slope", "deep_supervision", "dropout", "upsample"});
    o.in_channels(m.get_int("in_channels", o.in_channels(), 1, 1024));
    o.num_classes(m.get_int("num_classes", o.num_classes(), 1, 32768));
  } else {
    m.allow_only({"base_features", "max_features", "depth", "kernel_sizes", "strides", "norm", "negative_slope",
                  "deep_supervision", "dropout", "upsample", "domains", "num_groups", "norm_momentum", "norm_eps",
                  "domain_affine", "renorm_r_max", "renorm_d_max", "renorm_warmup_steps"});
  }
  o.base_features(m.get_int("base_features", o.base_features(), 1, 1024));
  o.max_features(m.get_int("max_features", o.max_features(), o.base_features(), 4096));
  o.depth(m.get_int("depth", o.depth(), 1, 8));
  o.kernel_sizes(read_levels(m, "kernel_sizes", 7, o.depth(), o.kernel_sizes()));
  o.strides(read_levels(m, "strides", 4, o.depth(), o.strides()));
  NormOptions norm = o.norm();
  const bool nested = node.IsMap() && node["norm"] && node["norm"].IsMap();
  if (nested || complete) {
    for (const auto& [flat, inner] : kFlatNormAliases) {
      if (!complete && m.has(flat)) {
        m.fail(flat, std::string("an old flat key beside the norm mapping: write it as norm.") + inner);
      }
    }
    read_norm(m.section("norm"), complete, norm);
    if (norm.instance_levels() > o.depth()) {
      m.section("norm").fail("instance_levels", "is more than the network's depth (" + std::to_string(o.depth()) + ")");
    }
  } else {
    read_flat_norm(m, norm);
  }
  o.norm(norm);
  o.negative_slope(m.get_double("negative_slope", o.negative_slope(), 0.0, 1.0));
  o.deep_supervision(m.get_bool("deep_supervision", o.deep_supervision()));
  o.dropout(m.get_double("dropout", o.dropout(), 0.0, 0.9));
  o.upsample(m.get_parsed("upsample", o.upsample(), [](const std::string& s) { return kUpsampleNames.parse(s); }));
}

void write_architecture(YAML::Emitter& out, const UNet3dOptions& options, ArchitectureKeys keys,
                        const std::vector<std::string>& domains) {
  ordered_json tree = detail::architecture_json(options, keys);
  if (!domains.empty()) tree["domains"] = domains;
  yaml_json::emit(out, tree);
}

UNet3dOptions training_defaults() {
  UNet3dOptions o(1, 2);
  o.deep_supervision(true);
  return o;
}

}  // namespace medseg::models
