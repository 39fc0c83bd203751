#include "models/bundle.h"

#include <torch/serialize.h>
#include <torch/torch.h>
#include <fcntl.h>  // AT_FDCWD
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "models/error.h"
#include "models/hash.h"
#include "models/yaml_json.h"

namespace medseg::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kInfoFile = "model.yaml";
constexpr const char* kWeightsFile = "weights.pt";

// ---------------------------------------------------------------- helpers

std::string to_string(UpsampleKind kind) {
  return kind == UpsampleKind::kTransposedConv ? "transposed_conv" : "pixel_shuffle";
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// The first line of an exception message (c10 appends backtraces).
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

bool is_batch_kind(NormKind kind) { return kind == NormKind::kBatch || kind == NormKind::kBatchRenorm; }

/// Product of the strides along (i, j, k); UNet3d's defaults when empty.
Int3 total_stride(const UNet3dOptions& o) {
  Int3 t{1, 1, 1};
  if (o.strides().empty()) {
    for (int64_t l = 1; l < o.depth(); ++l) t = {t[0] * 2, t[1] * 2, t[2] * 2};
  } else {
    for (const auto& s : o.strides()) t = {t[0] * s[0], t[1] * s[1], t[2] * s[2]};
  }
  return t;
}

/// Every parameter and buffer, parameters first, in registration order.
std::vector<std::pair<std::string, torch::Tensor>> named_tensors(UNet3d& model) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model->named_parameters()) {
    if (p.value().defined()) tensors.emplace_back(p.key(), p.value());
  }
  for (const auto& b : model->named_buffers()) {
    if (b.value().defined()) tensors.emplace_back(b.key(), b.value());
  }
  return tensors;
}

/// torch.save's zip format holding a plain {name: tensor} dict.
std::vector<char> pickle_state_dict(UNet3d& model) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : named_tensors(model)) {
    dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  return torch::pickle_save(dict);
}

void write_file(const fs::path& file, const std::vector<char>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (out) out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw IoError(file.string() + ": cannot write (" + std::strerror(errno) + ")");
}

std::vector<char> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelError(file.string() + ": cannot read (" + std::strerror(errno) + ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ModelError(file.string() + ": read error");
  return bytes;
}

/// A name for a temporary sibling that no other saver in this process or any
/// other process uses at the same time.
fs::path temporary_sibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  return target.parent_path() / (target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(counter++));
}

/// `path` without a trailing separator ("out/bundle/" -> "out/bundle"), so
/// that it has a file name and a parent to hold the temporary sibling.
fs::path normalized(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  if (p.is_relative() && !p.has_parent_path()) p = fs::path(".") / p;
  return p;
}

/// Puts the finished directory `tmp` at `target`. Linux swaps the two
/// atomically (renameat2 RENAME_EXCHANGE); elsewhere the old bundle is moved
/// aside first, so for a moment there is no bundle — but never half of one.
void replace_directory(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(tmp, target);
    return;
  }
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(tmp, ec);  // now holds the old bundle
    return;
  }
#endif
  const fs::path aside = temporary_sibling(target).concat(".old");
  fs::rename(target, aside);
  try {
    fs::rename(tmp, target);
  } catch (...) {
    fs::rename(aside, target, ec);
    throw;
  }
  fs::remove_all(aside, ec);
}

// ---------------------------------------------------------- info -> tree

ordered_json triples_json(const std::vector<Int3>& triples) {
  ordered_json a = ordered_json::array();
  for (const auto& t : triples) a.push_back({t[0], t[1], t[2]});
  return a;
}

ordered_json architecture_json(const UNet3dOptions& o) {
  const NormOptions& n = o.norm();
  ordered_json norm = {{"kind", to_string(n.kind())},
                       {"num_groups", n.num_groups()},
                       {"num_domains", n.num_domains()},
                       {"domain_affine", n.domain_affine()},
                       {"eps", n.eps()},
                       {"momentum", n.momentum() ? ordered_json(*n.momentum()) : ordered_json(nullptr)},
                       {"affine", n.affine()},
                       {"r_max", n.r_max()},
                       {"d_max", n.d_max()},
                       {"renorm_warmup_steps", n.renorm_warmup_steps()}};
  return {{"in_channels", o.in_channels()},
          {"num_classes", o.num_classes()},
          {"base_features", o.base_features()},
          {"max_features", o.max_features()},
          {"depth", o.depth()},
          {"kernel_sizes", triples_json(o.kernel_sizes())},
          {"strides", triples_json(o.strides())},
          {"norm", norm},
          {"negative_slope", o.negative_slope()},
          {"deep_supervision", o.deep_supervision()},
          {"dropout", o.dropout()},
          {"upsample", to_string(o.upsample())}};
}

ordered_json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return ordered_json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(what + " is not valid JSON (" + e.what() + ")");
  }
}

/// model.yaml without the weights section.
ordered_json info_json(const BundleInfo& info) {
  ordered_json labels = ordered_json::array();
  for (const auto& l : info.labels) {
    labels.push_back({{"value", l.value}, {"name", l.name}, {"color", {l.color[0], l.color[1], l.color[2]}}});
  }
  ordered_json metrics = ordered_json::object();
  for (const auto& [key, value] : info.provenance.metrics) metrics[key] = value;
  ordered_json provenance = {{"created", info.provenance.created},
                             {"medseg_version", info.provenance.medseg_version},
                             {"metrics", metrics}};
  if (!info.provenance.fingerprint_json.empty()) {
    provenance["fingerprint"] = parse_json_text(info.provenance.fingerprint_json, "provenance.fingerprint_json");
  }
  provenance["config_yaml"] = info.provenance.config_yaml;
  if (!info.provenance.notes.empty()) provenance["notes"] = info.provenance.notes;
  const ordered_json preprocessing = parse_json_text(info.preprocessing_json, "preprocessing_json");
  if (!preprocessing.is_object()) throw ModelError("preprocessing_json must be a JSON object");
  return {{"format_version", info.format_version},
          {"name", info.name},
          {"version", info.version},
          {"architecture", architecture_json(info.architecture)},
          {"channel_names", info.channel_names},
          {"labels", labels},
          {"domains", info.domains},
          {"patch_size", info.patch_size},
          {"preprocessing", preprocessing},
          {"provenance", provenance}};
}

/// YAML text of `tree` that is checked to read back as `tree`; if the
/// readable style does not, everything is written double-quoted.
std::string to_yaml_text(const ordered_json& tree) {
  for (const bool plain : {true, false}) {
    YAML::Emitter out;
    yaml_json::emit(out, tree, yaml_json::EmitStyle{plain});
    if (!out.good()) continue;
    const std::string text = std::string("# medseg model bundle; the format is described in docs/models.md\n") +
                             out.c_str() + "\n";
    try {
      if (yaml_json::to_json(YAML::Load(text)).dump() == tree.dump()) return text;
    } catch (const YAML::Exception&) {
    }
  }
  throw ModelError("model.yaml: internal error: the text written does not read back as the same values");
}

// ---------------------------------------------------------- yaml -> info

/// Typed access to model.yaml with errors naming the file, key and line.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
    std::string where = file_;
    if (!key.empty()) where += ", key '" + key + "'";
    if (at.IsDefined() && at.Mark().line >= 0) where += ", line " + std::to_string(at.Mark().line + 1);
    throw ModelError(where + ": " + what);
  }

  /// Child `key` of the mapping `map` (at `path`); missing is an error.
  YAML::Node child(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node node = map[key];
    if (!node.IsDefined()) throw ModelError(file_ + ", key '" + join(path, key) + "': missing");
    return node;
  }

  YAML::Node mapping(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node node = child(map, path, key);
    if (!node.IsMap()) fail(node, join(path, key), "expected a mapping");
    return node;
  }

  YAML::Node sequence(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node node = child(map, path, key);
    if (!node.IsSequence()) fail(node, join(path, key), "expected a list");
    return node;
  }

  ordered_json value(const YAML::Node& node, const std::string& key) const {
    try {
      return yaml_json::to_json(node);
    } catch (const YAML::Exception& e) {
      fail(node, key, e.msg);
    }
  }

  std::int64_t integer(const YAML::Node& node, const std::string& key, std::int64_t min, std::int64_t max) const {
    const ordered_json v = value(node, key);
    if (!v.is_number_integer()) fail(node, key, "expected an integer, got " + describe(node));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      fail(node, key, node.Scalar() + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    const auto i = v.get<std::int64_t>();
    if (i < min || i > max) {
      fail(node, key, std::to_string(i) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return i;
  }
  std::int64_t integer(const YAML::Node& map, const std::string& path, const std::string& key, std::int64_t min,
                       std::int64_t max) const {
    return integer(child(map, path, key), join(path, key), min, max);
  }

  double number(const YAML::Node& node, const std::string& key) const {
    const ordered_json v = value(node, key);
    if (!v.is_number()) fail(node, key, "expected a number, got " + describe(node));
    return v.get<double>();
  }
  double number(const YAML::Node& map, const std::string& path, const std::string& key) const {
    return number(child(map, path, key), join(path, key));
  }

  bool boolean(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node node = child(map, path, key);
    const ordered_json v = value(node, join(path, key));
    if (!v.is_boolean()) fail(node, join(path, key), "expected true or false, got " + describe(node));
    return v.get<bool>();
  }

  /// Any scalar but null, as written (`version: 2` is the text "2").
  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, key, "expected text, got " + describe(node));
    return node.Scalar();
  }
  std::string text(const YAML::Node& map, const std::string& path, const std::string& key) const {
    return text(child(map, path, key), join(path, key));
  }

  std::vector<std::string> texts(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node list = sequence(map, path, key);
    std::vector<std::string> out;
    for (size_t i = 0; i < list.size(); ++i) out.push_back(text(list[i], indexed(join(path, key), i)));
    return out;
  }

  std::vector<Int3> triples(const YAML::Node& map, const std::string& path, const std::string& key) const {
    const YAML::Node list = sequence(map, path, key);
    std::vector<Int3> out;
    for (size_t i = 0; i < list.size(); ++i) out.push_back(triple(list[i], indexed(join(path, key), i)));
    return out;
  }

  Int3 triple(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence() || node.size() != 3) fail(node, key, "expected a list of 3 integers");
    Int3 t{};
    for (size_t a = 0; a < 3; ++a) t[a] = integer(node[a], indexed(key, a), 1, 1 << 20);
    return t;
  }

  /// Unknown keys where they would change what the network computes.
  void allow_only(const YAML::Node& map, const std::string& path, const std::set<std::string>& keys) const {
    for (const auto& item : map) {
      const std::string key = item.first.Scalar();
      if (keys.count(key) == 0) {
        fail(item.first, join(path, key), "unknown key (written by a newer medseg, or a typo)");
      }
    }
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string indexed(const std::string& key, size_t i) { return key + "[" + std::to_string(i) + "]"; }

  const std::string& file() const { return file_; }

 private:
  static std::string describe(const YAML::Node& node) {
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "nothing";
  }

  std::string file_;
};

UNet3dOptions parse_architecture(const Reader& r, const YAML::Node& root) {
  const std::string a = "architecture";
  const YAML::Node arch = r.mapping(root, "", a);
  r.allow_only(arch, a,
               {"in_channels", "num_classes", "base_features", "max_features", "depth", "kernel_sizes", "strides",
                "norm", "negative_slope", "deep_supervision", "dropout", "upsample"});
  constexpr std::int64_t kMany = 1 << 20;
  UNet3dOptions o(r.integer(arch, a, "in_channels", 1, kMany), r.integer(arch, a, "num_classes", 1, kMany));
  o.base_features(r.integer(arch, a, "base_features", 1, kMany))
      .max_features(r.integer(arch, a, "max_features", 1, kMany))
      .depth(r.integer(arch, a, "depth", 1, 16))
      .kernel_sizes(r.triples(arch, a, "kernel_sizes"))
      .strides(r.triples(arch, a, "strides"))
      .negative_slope(r.number(arch, a, "negative_slope"))
      .deep_supervision(r.boolean(arch, a, "deep_supervision"))
      .dropout(r.number(arch, a, "dropout"));
  const std::string upsample = r.text(arch, a, "upsample");
  if (upsample == "pixel_shuffle") {
    o.upsample(UpsampleKind::kPixelShuffle);
  } else if (upsample == "transposed_conv") {
    o.upsample(UpsampleKind::kTransposedConv);
  } else {
    r.fail(arch["upsample"], "architecture.upsample",
           "unknown up-sampling '" + upsample + "'; expected pixel_shuffle or transposed_conv");
  }

  const std::string n = "architecture.norm";
  const YAML::Node norm = r.mapping(arch, a, "norm");
  r.allow_only(norm, n,
               {"kind", "num_groups", "num_domains", "domain_affine", "eps", "momentum", "affine", "r_max", "d_max",
                "renorm_warmup_steps"});
  NormKind kind = NormKind::kBatch;
  try {
    kind = parse_norm_kind(r.text(norm, n, "kind"));
  } catch (const ConfigError& e) {
    r.fail(norm["kind"], n + ".kind", e.what());
  }
  NormOptions no(kind);
  no.num_groups(r.integer(norm, n, "num_groups", 1, kMany))
      .num_domains(r.integer(norm, n, "num_domains", 1, kMany))
      .domain_affine(r.boolean(norm, n, "domain_affine"))
      .eps(r.number(norm, n, "eps"))
      .affine(r.boolean(norm, n, "affine"))
      .r_max(r.number(norm, n, "r_max"))
      .d_max(r.number(norm, n, "d_max"))
      .renorm_warmup_steps(r.integer(norm, n, "renorm_warmup_steps", 0, std::numeric_limits<std::int64_t>::max()));
  const YAML::Node momentum = r.child(norm, n, "momentum");
  if (momentum.IsNull()) {
    no.momentum(c10::nullopt);
  } else {
    no.momentum(r.number(momentum, n + ".momentum"));
  }
  o.norm(no);
  return o;
}

struct WeightsEntry {
  std::string file;
  std::string checksum;  ///< FNV-1a 64 of the file, 16 hex digits
};

struct ParsedInfo {
  BundleInfo info;
  WeightsEntry weights;
};

/// Canonical JSON text (sorted keys, compact) of a YAML subtree.
std::string canonical_json(const Reader& r, const YAML::Node& node, const std::string& key) {
  return json::parse(r.value(node, key).dump()).dump();
}

/// The first problem of `info` as (key, what), or an empty key if none:
/// the checks both save_bundle and read_bundle_info make.
std::pair<std::string, std::string> find_problem(const BundleInfo& info) {
  const UNet3dOptions& a = info.architecture;
  const auto n = [](auto v) { return std::to_string(v); };
  if (info.name.empty()) return {"name", "empty; give the model a name"};
  if (a.depth() < 1) return {"architecture.depth", n(a.depth()) + " is less than 1"};
  for (const auto& [key, list] : {std::pair{"architecture.kernel_sizes", &a.kernel_sizes()},
                                  std::pair{"architecture.strides", &a.strides()}}) {
    if (!list->empty() && static_cast<std::int64_t>(list->size()) != a.depth()) {
      return {key, n(list->size()) + " entries for depth " + n(a.depth()) + " (or none for the default)"};
    }
  }
  if (static_cast<std::int64_t>(info.labels.size()) != a.num_classes()) {
    return {"labels", n(info.labels.size()) + " labels for architecture.num_classes " + n(a.num_classes()) +
                          " (background included)"};
  }
  for (size_t i = 0; i < info.labels.size(); ++i) {
    const int value = info.labels[i].value;
    if (i == 0 && value != 0) return {"labels", "the first label must be the background, value 0, not " + n(value)};
    if (i > 0 && value <= info.labels[i - 1].value) {
      return {"labels", "values must ascend; " + n(value) + " follows " + n(info.labels[i - 1].value)};
    }
  }
  if (!info.channel_names.empty() && static_cast<std::int64_t>(info.channel_names.size()) != a.in_channels()) {
    return {"channel_names",
            n(info.channel_names.size()) + " names for architecture.in_channels " + n(a.in_channels())};
  }
  if (is_batch_kind(a.norm().kind()) && static_cast<std::int64_t>(info.domains.size()) > a.norm().num_domains()) {
    return {"domains", n(info.domains.size()) + " domains for architecture.norm.num_domains " +
                           n(a.norm().num_domains()) + " (one set of statistics each)"};
  }
  std::set<std::string> seen;
  for (const auto& d : info.domains) {
    if (d.empty()) return {"domains", "empty domain name"};
    if (!seen.insert(d).second) return {"domains", "'" + d + "' appears twice"};
  }
  const Int3 stride = total_stride(a);
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t p = info.patch_size[static_cast<size_t>(axis)];
    const std::int64_t s = stride[static_cast<size_t>(axis)];
    if (p < 1 || p % s != 0) {
      return {"patch_size", n(p) + " voxels along " + "ijk"[axis] + " is not a positive multiple of the total stride " +
                                n(s) + " of the architecture"};
    }
  }
  return {};
}

ParsedInfo parse_info(const Reader& r, const YAML::Node& root) {
  if (!root.IsMap()) r.fail(root, "", "not a mapping of keys (is this a medseg model.yaml?)");
  ParsedInfo parsed;
  BundleInfo& info = parsed.info;
  // The version first: a newer file may differ in anything else.
  const std::int64_t version = r.integer(root, "", "format_version", 1, std::numeric_limits<int>::max());
  if (version > kBundleFormatVersion) {
    throw ModelError(r.file() + ": format version " + std::to_string(version) +
                     " is newer than this medseg supports (" + std::to_string(kBundleFormatVersion) +
                     "); update medseg");
  }
  info.format_version = static_cast<int>(version);
  info.name = r.text(root, "", "name");
  info.version = r.text(root, "", "version");
  info.architecture = parse_architecture(r, root);
  info.channel_names = r.texts(root, "", "channel_names");

  const YAML::Node labels = r.sequence(root, "", "labels");
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string key = Reader::indexed("labels", i);
    if (!labels[i].IsMap()) r.fail(labels[i], key, "expected a mapping {value, name, color}");
    LabelInfo label;
    label.value = static_cast<int>(r.integer(labels[i], key, "value", 0, std::numeric_limits<int>::max()));
    label.name = r.text(labels[i], key, "name");
    const YAML::Node color = r.sequence(labels[i], key, "color");
    if (color.size() != 3) r.fail(color, key + ".color", "expected [red, green, blue]");
    for (size_t c = 0; c < 3; ++c) {
      label.color[c] = static_cast<std::uint8_t>(r.integer(color[c], Reader::indexed(key + ".color", c), 0, 255));
    }
    info.labels.push_back(label);
  }

  info.domains = r.texts(root, "", "domains");
  const YAML::Node patch = r.child(root, "", "patch_size");
  const Int3 p = r.triple(patch, "patch_size");
  info.patch_size = {p[0], p[1], p[2]};

  const YAML::Node preprocessing = r.mapping(root, "", "preprocessing");
  info.preprocessing_json = canonical_json(r, preprocessing, "preprocessing");

  const YAML::Node provenance = r.mapping(root, "", "provenance");
  const std::string pv = "provenance";
  info.provenance.created = r.text(provenance, pv, "created");
  info.provenance.medseg_version = r.text(provenance, pv, "medseg_version");
  info.provenance.config_yaml = r.text(provenance, pv, "config_yaml");
  const YAML::Node fingerprint = provenance["fingerprint"];
  if (fingerprint.IsDefined() && !fingerprint.IsNull()) {
    info.provenance.fingerprint_json = canonical_json(r, fingerprint, "provenance.fingerprint");
  }
  const YAML::Node notes = provenance["notes"];
  if (notes.IsDefined() && !notes.IsNull()) info.provenance.notes = r.texts(provenance, pv, "notes");
  const YAML::Node metrics = r.mapping(provenance, pv, "metrics");
  for (const auto& item : metrics) {
    const std::string key = item.first.Scalar();
    info.provenance.metrics[key] = r.number(item.second, "provenance.metrics." + key);
  }

  const YAML::Node weights = r.mapping(root, "", "weights");
  parsed.weights.file = r.text(weights, "weights", "file");
  if (parsed.weights.file.empty() || parsed.weights.file.find('/') != std::string::npos ||
      parsed.weights.file == "." || parsed.weights.file == "..") {
    r.fail(weights["file"], "weights.file", "expected a file name inside the bundle, got '" + parsed.weights.file + "'");
  }
  parsed.weights.checksum = r.text(weights, "weights", "fnv1a64");
  if (parsed.weights.checksum.size() != 16 ||
      parsed.weights.checksum.find_first_not_of("0123456789abcdef") != std::string::npos) {
    r.fail(weights["fnv1a64"], "weights.fnv1a64", "expected 16 lower-case hex digits");
  }

  const auto [key, what] = find_problem(info);
  if (!key.empty()) {
    const YAML::Node at = root[key.substr(0, key.find('.'))];
    r.fail(at, key, what);
  }
  return parsed;
}

ParsedInfo read_info(const fs::path& directory) {
  std::error_code ec;
  if (!fs::exists(directory, ec)) throw ModelError("model bundle '" + directory.string() + "': no such directory");
  if (!fs::is_directory(directory, ec)) {
    throw ModelError("model bundle '" + directory.string() +
                     "': not a directory (a bundle is a folder with model.yaml and weights.pt)");
  }
  const fs::path file = directory / kInfoFile;
  if (!fs::exists(file, ec)) {
    throw ModelError(file.string() + ": not found (a bundle is a folder with model.yaml and weights.pt)");
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw ModelError(file.string() + ": cannot read (" + std::strerror(errno) + ")");
  } catch (const YAML::Exception& e) {
    throw ModelError(file.string() + ", line " + std::to_string(e.mark.line + 1) + ": invalid YAML (" + e.msg + ")");
  }
  return parse_info(Reader(file.string()), root);
}

/// Checks every tensor of `loaded` against `model` and copies it in.
void load_tensors(UNet3d& model, const std::vector<std::pair<std::string, at::Tensor>>& loaded,
                  const std::string& file) {
  std::map<std::string, at::Tensor> by_name(loaded.begin(), loaded.end());
  std::vector<std::string> problems;
  const auto expected = named_tensors(model);
  std::set<std::string> expected_names;
  for (const auto& [name, target] : expected) {
    expected_names.insert(name);
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      problems.push_back("missing tensor '" + name + "'");
    } else if (it->second.sizes() != target.sizes()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_text(it->second.sizes()) +
                         ", the architecture in model.yaml expects " + shape_text(target.sizes()));
    } else if (it->second.scalar_type() != target.scalar_type()) {
      problems.push_back("tensor '" + name + "' has dtype " + c10::toString(it->second.scalar_type()) +
                         ", the architecture in model.yaml expects " + c10::toString(target.scalar_type()));
    }
  }
  for (const auto& [name, tensor] : loaded) {
    if (expected_names.count(name) == 0) {
      problems.push_back("unexpected tensor '" + name + "' (weights of another architecture?)");
    }
  }
  if (!problems.empty()) {
    std::string message = file + ": " + problems.front();
    if (problems.size() > 1) message += " (and " + std::to_string(problems.size() - 1) + " more problems)";
    throw ModelError(message);
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : expected) target.copy_(by_name.at(name));
}

}  // namespace

void save_bundle(const std::filesystem::path& directory, const BundleInfo& info, UNet3d& model) {
  const std::string where = "save_bundle '" + directory.string() + "'";
  if (!model) throw ModelError(where + ": no model");
  if (info.format_version != kBundleFormatVersion) {
    throw ModelError(where + ": format_version " + std::to_string(info.format_version) +
                     " cannot be written; this medseg writes " + std::to_string(kBundleFormatVersion));
  }
  const ordered_json written = architecture_json(info.architecture);
  const ordered_json actual = architecture_json(model->options);
  for (const auto& [key, value] : actual.items()) {
    if (written[key] != value) {
      throw ModelError(where + ": info.architecture differs from the model's options at '" + key + "' (" +
                       written[key].dump() + " vs the model's " + value.dump() + ")");
    }
  }
  if (const auto [key, what] = find_problem(info); !key.empty()) {
    throw ModelError(where + ": key '" + key + "': " + what);
  }
  ordered_json tree;
  try {
    tree = info_json(info);
  } catch (const ModelError& e) {
    throw ModelError(where + ": " + e.what());
  }
  const std::vector<char> weights = pickle_state_dict(model);
  tree["weights"] = {{"file", kWeightsFile},
                     {"fnv1a64", hex64(fnv1a(std::string_view(weights.data(), weights.size())))},
                     {"tensors", named_tensors(model).size()}};
  const std::string yaml = to_yaml_text(tree);

  const fs::path target = normalized(directory);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    // Never replace something that is not a bundle (a typo must not delete a data folder).
    const bool bundle = fs::is_directory(target, ec) &&
                        (fs::exists(target / kInfoFile, ec) || fs::is_empty(target, ec));
    if (!bundle) {
      throw IoError(where + ": refusing to replace it: it exists and is not a model bundle (no model.yaml)");
    }
  }
  const fs::path tmp = temporary_sibling(target);
  try {
    if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    write_file(tmp / kWeightsFile, weights);
    write_file(tmp / kInfoFile, std::vector<char>(yaml.begin(), yaml.end()));
    replace_directory(tmp, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw IoError(where + ": " + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

BundleInfo read_bundle_info(const std::filesystem::path& directory) { return read_info(directory).info; }

Bundle load_bundle(const std::filesystem::path& directory) {
  ParsedInfo parsed = read_info(directory);
  const std::string info_file = (directory / kInfoFile).string();
  const fs::path weights_path = directory / parsed.weights.file;
  const std::string file = weights_path.string();
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) throw ModelError(file + ": not found (model.yaml names it)");
  const std::vector<char> bytes = read_file(weights_path);
  if (hex64(fnv1a(std::string_view(bytes.data(), bytes.size()))) != parsed.weights.checksum) {
    throw ModelError(file + ": checksum differs from model.yaml — file corrupted or replaced");
  }

  std::vector<std::pair<std::string, at::Tensor>> loaded;
  try {
    const c10::IValue value = torch::pickle_load(bytes);
    if (!value.isGenericDict()) {
      throw ModelError(file + ": holds a " + value.tagKind() + ", expected a dict of named tensors");
    }
    for (const auto& item : value.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor()) {
        throw ModelError(file + ": holds a " + item.key().tagKind() + " -> " + item.value().tagKind() +
                         " entry, expected name -> tensor");
      }
      loaded.emplace_back(item.key().toStringRef(), item.value().toTensor());
    }
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw ModelError(file + ": not a readable PyTorch state dict (" + first_line(e) + ")");
  }

  Bundle bundle;
  bundle.info = std::move(parsed.info);
  try {
    bundle.model = UNet3d(bundle.info.architecture);
  } catch (const std::exception& e) {
    throw ModelError(info_file + ", key 'architecture': cannot build the network (" + first_line(e) + ")");
  }
  load_tensors(bundle.model, loaded, file);
  bundle.model->eval();
  return bundle;
}

void export_state_dict(UNet3d& model, const std::filesystem::path& file) {
  if (!model) throw ModelError("export_state_dict '" + file.string() + "': no model");
  const std::vector<char> bytes = pickle_state_dict(model);
  const fs::path target = normalized(file);
  const fs::path tmp = temporary_sibling(target);
  std::error_code ec;
  try {
    if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
    write_file(tmp, bytes);
    fs::rename(tmp, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove(tmp, ec);
    throw IoError("export_state_dict '" + file.string() + "': " + e.what());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

std::string bundle_info_to_json(const BundleInfo& info) { return info_json(info).dump(2); }

}  // namespace medseg::models
