#include "models/bundle.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/hash.h"
#include "tests/common/temp_dir.h"

namespace medseg::models {
namespace {
namespace fs = std::filesystem;
using core::fnv1a;
using core::kFnv1aPipelineOffset;

using test::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Edits model.yaml: replaces the first match of `pattern`.
void edit_info(const fs::path& bundle, const std::string& pattern, const std::string& replacement) {
  const std::string text = slurp(bundle / "model.yaml");
  const std::string edited = std::regex_replace(text, std::regex(pattern), replacement,
                                                std::regex_constants::format_first_only);
  ASSERT_NE(edited, text) << "pattern '" << pattern << "' not found in\n" << text;
  spit(bundle / "model.yaml", edited);
}

/// Makes model.yaml's checksum match weights.pt again, so that a test
/// reaches the checks behind the checksum.
void fix_checksum(const fs::path& bundle) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(fnv1a(slurp(bundle / "weights.pt"))));
  edit_info(bundle, "fnv1a64: .*", std::string("fnv1a64: \"") + hex + "\"");
}

UNet3dOptions tiny_architecture(int64_t base_features = 4) {
  NormOptions norm(NormKind::kBatch);
  norm.num_domains(2).domain_affine(true).eps(1e-3).momentum(0.3);
  return UNet3dOptions(2, 3).base_features(base_features).max_features(8).depth(3).norm(norm).dropout(0.1);
}

/// A tiny U-Net whose running statistics and counters are not the defaults.
UNet3d trained_unet(int64_t base_features = 4) {
  torch::manual_seed(7);
  UNet3d net(tiny_architecture(base_features));
  net->train();
  torch::NoGradGuard no_grad;
  for (int step = 0; step < 3; ++step) {
    net->forward(torch::randn({2, 2, 8, 8, 8}) * (step + 1) + step, torch::tensor({0, 1}, torch::kLong));
  }
  net->forward(torch::randn({1, 2, 8, 8, 8}), torch::tensor({1}, torch::kLong));
  return net;
}

// Canonical JSON (sorted keys, compact) with values YAML could misread.
const char* const kPreprocessing =
    R"({"a":[0.1,1e-300,1.0,-0.0,123456789012345678,-42,3.141592653589793,0.30000000000000004],)"
    R"("b":"1","c":"true","d":"","e":"~","f":"yes","g":"two\nlines\n","h":null,)"
    R"("i":{"nested":[[1,2],[],{}]},"j":{},"k":"  leading space","l":"ü – unicode","m":"x: y",)"
    R"("n":"#hash","o":false,"p":"blank\n\n","q":"-","r":"1e5","s":"null","spacing":[1.5,0.7,0.7]})";

BundleInfo tiny_info() {
  BundleInfo info;
  info.name = "tiny_brain";
  info.version = "3";
  info.architecture = tiny_architecture();
  info.channel_names = {"t1", "flair"};
  info.labels = {{0, "background", {0, 0, 0}}, {1, "grey matter", {255, 128, 0}}, {4, "lesion: new", {1, 2, 3}}};
  info.domains = {"siemens_1.5T", "ge 3T"};
  info.patch_size = {8, 16, 24};
  info.preprocessing_json = kPreprocessing;
  info.provenance.created = "2024-05-01T12:00:00Z";
  info.provenance.medseg_version = "0.3.0-12-gabcdef";
  info.provenance.config_yaml = "model:\n  depth: 3\n  norm: batch  # comment\ntrain:\n  epochs: 40\n";
  info.provenance.fingerprint_json = R"({"cases":12,"median_spacing":[1.0,1.0,1.2000000000000002]})";
  info.provenance.metrics = {{"dice/grey matter", 0.9712345678901234}, {"epoch", 40}, {"loss", 1e-7}};
  return info;
}

void expect_same_info(const BundleInfo& a, const BundleInfo& b) {
  EXPECT_EQ(a.format_version, b.format_version);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.version, b.version);
  const UNet3dOptions &x = a.architecture, &y = b.architecture;
  EXPECT_EQ(x.in_channels(), y.in_channels());
  EXPECT_EQ(x.num_classes(), y.num_classes());
  EXPECT_EQ(x.base_features(), y.base_features());
  EXPECT_EQ(x.max_features(), y.max_features());
  EXPECT_EQ(x.depth(), y.depth());
  EXPECT_EQ(x.kernel_sizes(), y.kernel_sizes());
  EXPECT_EQ(x.strides(), y.strides());
  EXPECT_EQ(x.negative_slope(), y.negative_slope());
  EXPECT_EQ(x.deep_supervision(), y.deep_supervision());
  EXPECT_EQ(x.dropout(), y.dropout());
  EXPECT_EQ(x.upsample(), y.upsample());
  EXPECT_EQ(x.norm().kind(), y.norm().kind());
  EXPECT_EQ(x.norm().num_groups(), y.norm().num_groups());
  EXPECT_EQ(x.norm().num_domains(), y.norm().num_domains());
  EXPECT_EQ(x.norm().domain_affine(), y.norm().domain_affine());
  EXPECT_EQ(x.norm().eps(), y.norm().eps());
  EXPECT_EQ(x.norm().momentum(), y.norm().momentum());
  EXPECT_EQ(x.norm().affine(), y.norm().affine());
  EXPECT_EQ(x.norm().r_max(), y.norm().r_max());
  EXPECT_EQ(x.norm().d_max(), y.norm().d_max());
  EXPECT_EQ(x.norm().renorm_warmup_steps(), y.norm().renorm_warmup_steps());
  EXPECT_EQ(x.norm().instance_levels(), y.norm().instance_levels());
  EXPECT_EQ(x.norm().instance_fraction(), y.norm().instance_fraction());
  EXPECT_EQ(a.channel_names, b.channel_names);
  ASSERT_EQ(a.labels.size(), b.labels.size());
  for (size_t i = 0; i < a.labels.size(); ++i) {
    EXPECT_EQ(a.labels[i].value, b.labels[i].value);
    EXPECT_EQ(a.labels[i].name, b.labels[i].name);
    EXPECT_EQ(a.labels[i].color, b.labels[i].color);
  }
  EXPECT_EQ(a.domains, b.domains);
  EXPECT_EQ(a.patch_size, b.patch_size);
  EXPECT_EQ(a.preprocessing_json, b.preprocessing_json);
  EXPECT_EQ(a.adapt_min_change, b.adapt_min_change);
  EXPECT_EQ(a.adapt_methods, b.adapt_methods);
  EXPECT_EQ(a.adapt_check, b.adapt_check);
  EXPECT_EQ(a.adapt_prior_windows, b.adapt_prior_windows);
  EXPECT_EQ(a.adapt_prior_strength, b.adapt_prior_strength);
  EXPECT_EQ(a.provenance.created, b.provenance.created);
  EXPECT_EQ(a.provenance.medseg_version, b.provenance.medseg_version);
  EXPECT_EQ(a.provenance.config_yaml, b.provenance.config_yaml);
  EXPECT_EQ(a.provenance.fingerprint_json, b.provenance.fingerprint_json);
  EXPECT_EQ(a.provenance.metrics, b.provenance.metrics);  // exact doubles
}

/// The message of the ModelError `f` throws ("" and a failure if none).
template <typename F>
std::string model_error(F&& f) {
  try {
    f();
  } catch (const ModelError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ModelError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = trained_unet();
    save_bundle(bundle_, tiny_info(), net_);
  }
  /// Writes `yaml` with `pattern` replaced as model.yaml and returns the
  /// ModelError reading it throws.
  std::string error_after(const std::string& yaml, const std::string& pattern, const std::string& replacement) {
    spit(bundle_ / "model.yaml", yaml);
    edit_info(bundle_, pattern, replacement);
    return model_error([&] { read_bundle_info(bundle_); });
  }

  TempDir dir_;
  fs::path bundle_ = dir_ / "tiny.bundle";
  UNet3d net_{nullptr};
};

TEST_F(BundleTest, RoundTripGivesBitIdenticalOutputsAndInfo) {
  Bundle loaded = load_bundle(bundle_);
  expect_same_info(loaded.info, tiny_info());
  expect_same_info(read_bundle_info(bundle_), tiny_info());
  EXPECT_FALSE(loaded.model->is_training());

  // Every parameter and buffer, running statistics and counters included.
  const auto original = net_->named_buffers();
  const auto restored = loaded.model->named_buffers();
  ASSERT_EQ(original.size(), restored.size());
  for (const auto& b : original) {
    EXPECT_TRUE(torch::equal(b.value(), restored[b.key()])) << b.key();
  }
  EXPECT_GT(original["encoder0a.norm.num_batches_tracked"].sum().item<int64_t>(), 0);

  net_->eval();
  torch::manual_seed(1);
  const auto x = torch::randn({2, 2, 8, 16, 24});
  for (const auto& domains : {torch::tensor({0, 1}, torch::kLong), torch::tensor({1, 1}, torch::kLong)}) {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(net_->forward(x, domains), loaded.model->forward(x, domains)));
  }
}

// IBN networks (norm.instance_levels) come back with instance norm where
// they had it; bundles without the key (all written before it) read as 0.
TEST_F(BundleTest, InstanceLevelsRoundTripAndAreOptional) {
  EXPECT_EQ(slurp(bundle_ / "model.yaml").find("instance_levels"), std::string::npos);
  EXPECT_EQ(read_bundle_info(bundle_).architecture.norm().instance_levels(), 0);
  BundleInfo info = tiny_info();
  NormOptions norm = info.architecture.norm();
  norm.instance_levels(2);
  info.architecture.norm(norm);
  torch::manual_seed(3);
  UNet3d ibn(info.architecture);
  save_bundle(bundle_, info, ibn);
  EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "instance_levels: 2");
  Bundle loaded = load_bundle(bundle_);
  expect_same_info(loaded.info, info);
  ibn->eval();
  const auto x = torch::randn({2, 2, 8, 16, 24});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(ibn->forward(x, torch::tensor({0, 1}, torch::kLong)),
                           loaded.model->forward(x, torch::tensor({0, 1}, torch::kLong))));
  EXPECT_CONTAINS(error_after(slurp(bundle_ / "model.yaml"), "instance_levels: 2", "instance_levels: 4"),
                  "instance_levels");
}

// IBN-a (norm.instance_fraction): written only when below 1, read back with
// its split layers' weights; out-of-range values name the key.
TEST_F(BundleTest, InstanceFractionRoundTripsAndIsOptional) {
  EXPECT_EQ(slurp(bundle_ / "model.yaml").find("instance_fraction"), std::string::npos);
  EXPECT_DOUBLE_EQ(read_bundle_info(bundle_).architecture.norm().instance_fraction(), 1.0);
  BundleInfo info = tiny_info();
  NormOptions norm = info.architecture.norm();
  norm.instance_levels(1).instance_fraction(0.5);
  info.architecture.norm(norm);
  torch::manual_seed(4);
  UNet3d ibn(info.architecture);
  {
    torch::NoGradGuard g;
    for (auto& p : ibn->parameters()) p.add_(torch::randn_like(p) * 0.1);
  }
  save_bundle(bundle_, info, ibn);
  EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "instance_fraction: 0.5");
  Bundle loaded = load_bundle(bundle_);
  expect_same_info(loaded.info, info);
  EXPECT_DOUBLE_EQ(loaded.info.architecture.norm().instance_fraction(), 0.5);
  ibn->eval();
  const auto x = torch::randn({2, 2, 8, 16, 24});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(ibn->forward(x, torch::tensor({0, 1}, torch::kLong)),
                           loaded.model->forward(x, torch::tensor({0, 1}, torch::kLong))));
  const std::string yaml = slurp(bundle_ / "model.yaml");
  EXPECT_CONTAINS(error_after(yaml, "instance_fraction: 0.5", "instance_fraction: 0"), "instance_fraction");
  EXPECT_CONTAINS(error_after(yaml, "instance_fraction: 0.5", "instance_fraction: 1.5"), "instance_fraction");
  EXPECT_CONTAINS(error_after(yaml, "instance_levels: 1", "instance_levels: 0"), "applies only with instance_levels > 0");
}

TEST_F(BundleTest, ModelYamlIsReadableAndHoldsThePlanAsNestedYaml) {
  const std::string yaml = slurp(bundle_ / "model.yaml");
  EXPECT_CONTAINS(yaml, "format_version: 1\n");
  EXPECT_CONTAINS(yaml, "  spacing: [1.5, 0.7, 0.7]\n");
  EXPECT_CONTAINS(yaml, "  b: \"1\"\n");
  EXPECT_CONTAINS(yaml, "config_yaml: |\n");
  EXPECT_CONTAINS(yaml, "fnv1a64: ");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1)
      << "temporary directories left behind";
}

TEST_F(BundleTest, StringsThatNeedQuotingAndOddMetricsRoundTrip) {
  BundleInfo info = tiny_info();
  info.name = "true";
  info.version = "1.0";
  info.provenance.config_yaml = "  starts indented\n\tand a tab\n\n\n";
  info.provenance.created = "";
  info.provenance.fingerprint_json = "";
  info.provenance.metrics = {{"nan", std::numeric_limits<double>::quiet_NaN()},
                             {"inf", -std::numeric_limits<double>::infinity()},
                             {"tiny", 4.9406564584124654e-324}};
  info.preprocessing_json = "{}";
  save_bundle(bundle_, info, net_);
  const BundleInfo back = read_bundle_info(bundle_);
  EXPECT_EQ(back.name, "true");
  EXPECT_EQ(back.version, "1.0");
  EXPECT_EQ(back.provenance.config_yaml, info.provenance.config_yaml);
  EXPECT_EQ(back.provenance.created, "");
  EXPECT_EQ(back.provenance.fingerprint_json, "");
  EXPECT_EQ(back.preprocessing_json, "{}");
  EXPECT_TRUE(std::isnan(back.provenance.metrics.at("nan")));
  EXPECT_EQ(back.provenance.metrics.at("inf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(back.provenance.metrics.at("tiny"), 4.9406564584124654e-324);
}

// A hex digest made only of digits and one 'e' reads, unquoted, as a number
// beyond double's range (seen as a weights checksum, 7715e61469801545): it
// must be written quoted and come back as the same string.
TEST_F(BundleTest, AStringThatReadsAsAnOverflowingNumberIsQuoted) {
  BundleInfo info = tiny_info();
  info.version = "7715e61469801545";
  save_bundle(bundle_, info, net_);
  EXPECT_EQ(read_bundle_info(bundle_).version, "7715e61469801545");
}

TEST_F(BundleTest, FlippedOrTruncatedWeightsAreAClearError) {
  const fs::path weights = bundle_ / "weights.pt";
  const std::string bytes = slurp(weights);
  std::string flipped = bytes;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
  spit(weights, flipped);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }),
                  "weights.pt: checksum differs from model.yaml — file corrupted or replaced");
  spit(weights, bytes.substr(0, bytes.size() / 3));
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "weights.pt: checksum differs from model.yaml");

  // Behind the checksum (someone "fixed" it): still an error, never a crash.
  fix_checksum(bundle_);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "weights.pt: not a readable PyTorch state dict");
  spit(weights, "");
  fix_checksum(bundle_);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "weights.pt: not a readable PyTorch state dict");
  spit(weights, flipped);
  fix_checksum(bundle_);
  try {
    load_bundle(bundle_);  // the flipped byte may sit in tensor data: loads, with a wrong value
  } catch (const ModelError&) {
  }
}

// Found by fuzz/targets/fuzz_model_yaml.cpp: a byte that is not UTF-8 in
// the preprocessing plan escaped as nlohmann's type_error 316 ("invalid
// UTF-8 byte", an internal error, exit 1) when the plan became JSON.
TEST_F(BundleTest, ModelYamlThatIsNotUtf8IsRefusedWithItsLine) {
  const std::string text = slurp(bundle_ / "model.yaml");
  const size_t at = text.find("\xc3\xbc");  // the u-umlaut of kPreprocessing's "l"
  ASSERT_NE(at, std::string::npos) << text;
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const auto column = at - text.rfind('\n', at);
  edit_info(bundle_, "\xc3\xbc", "\xdf");  // Latin-1 sharp s: a lead byte without its continuation
  const std::string message = model_error([&] { read_bundle_info(bundle_); });
  EXPECT_CONTAINS(message, "model.yaml', line " + std::to_string(line) + ", column " + std::to_string(column) +
                               ": not UTF-8 text (byte 0xDF)");
}

// Also found by fuzz_model_yaml: a NUL inside a key of the preprocessing
// plan came out of yaml-cpp as "spa\xa0..." and nlohmann threw the same
// type_error 316. YAML allows no control characters but tab and line breaks.
TEST_F(BundleTest, ModelYamlWithAControlCharacterIsRefusedWithItsLine) {
  const std::string text = slurp(bundle_ / "model.yaml");
  const size_t at = text.find("\n  spacing:");
  ASSERT_NE(at, std::string::npos) << text;
  const auto line = 2 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  edit_info(bundle_, "\n  spacing:", std::string("\n  spa\0cing:", 12));
  const std::string message = model_error([&] { read_bundle_info(bundle_); });
  EXPECT_CONTAINS(message, "model.yaml', line " + std::to_string(line) +
                               ", column 6: a control character (byte 0x00), which YAML does not allow");
}

// A weights.pt written by hand: `pickle` as data.pkl, `records` as
// data/0, data/1, ... of a PyTorch zip archive (what an attacker controls).
std::string crafted_weights(const std::string& pickle, const std::vector<std::string>& records) {
  std::string zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    zip.append(static_cast<const char*>(data), size);
    return size;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (size_t k = 0; k < records.size(); ++k) {
    writer.writeRecord("data/" + std::to_string(k), records[k].data(), records[k].size());
  }
  writer.writeEndOfFile();
  return zip;
}

// Pickle protocol 2 as torch::pickle_save writes a {name: tensor} dict,
// each tensor contiguous in its own storage record, without memo entries.
struct PickledTensor {
  std::string name;
  std::string storage;  // "FloatStorage", "LongStorage"
  int64_t numel;
  std::vector<int64_t> sizes;
  int64_t offset = 0;
};
std::string state_dict_pickle(const std::vector<PickledTensor>& tensors) {
  auto text = [](const std::string& s) {
    const auto n = static_cast<uint32_t>(s.size());
    return std::string("X") + std::string(reinterpret_cast<const char*>(&n), 4) + s;
  };
  auto integer = [](int64_t v) {
    const auto n = static_cast<int32_t>(v);
    return std::string("J") + std::string(reinterpret_cast<const char*>(&n), 4);
  };
  std::string p = "\x80\x02}(";
  for (size_t k = 0; k < tensors.size(); ++k) {
    const PickledTensor& t = tensors[k];
    p += text(t.name) + "ctorch._utils\n_rebuild_tensor_v2\n((" + text("storage") + "ctorch\n" + t.storage + "\n" +
         text(std::to_string(k)) + text("cpu") + integer(t.numel) + "tQ" + integer(t.offset) + "(";
    for (int64_t size : t.sizes) p += integer(size);
    p += "t(";
    int64_t stride = 1;
    std::vector<int64_t> strides(t.sizes.size());
    for (size_t d = t.sizes.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= t.sizes[d];
    }
    for (int64_t s : strides) p += integer(s);
    p += "t\x89" "ccollections\nOrderedDict\n)RtR";
  }
  return p + "u.";
}

// Found by fuzz/targets/fuzz_weights.cpp: LibTorch 1.13's unpickler pops
// an empty stack on these (REDUCE with one value on it) and the process
// dies with SIGSEGV; medseg now refuses them before unpickling.
TEST_F(BundleTest, CraftedPicklesAreRefusedBeforeLibTorchUnpicklesThem) {
  const fs::path weights = bundle_ / "weights.pt";
  using namespace std::string_literals;
  for (const std::string& pickle : {"\x80\x02}R."s, "\x80\x02R."s, "\x80\x02}u."s, "\x80\x02}\x85t."s,
                                    "\x80\x02}r\xff\xff\xff\xff."s, "\x80\x02}cos\nsystem\n."s}) {
    spit(weights, crafted_weights(pickle, {}));
    fix_checksum(bundle_);
    EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "weights.pt: not a readable PyTorch state dict (");
  }
}

// Found by fuzz_weights: a damaged zip archive (this file, minimized by
// libFuzzer) makes LibTorch's miniz ask its read adapter for bytes before the
// start of the buffer, which LibTorch's adapters copy without a check (UBSan:
// pointer overflow in MemoryReadAdapter::read; an out-of-bounds read).
TEST_F(BundleTest, AZipArchivePointingOutsideTheFileIsRefused) {
  fs::copy_file(fs::path(MEDSEG_SOURCE_DIR) / "tests/models/data/zip_read_before_start.pt", bundle_ / "weights.pt",
                fs::copy_options::overwrite_existing);
  fix_checksum(bundle_);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }),
                  "weights.pt: not a readable PyTorch state dict (the zip archive points outside the file)");
}

// A storage record shorter than the storage's declared size, or a tensor
// whose offset, sizes and strides reach past its storage: LibTorch sizes a
// storage by the pickle's element count whatever the record holds, and
// _rebuild_tensor_v2 takes offset, sizes and strides as they are; copying
// the weights into the network then read past the record's buffer (checked
// with the tiny bundle of fuzz_weights: both loaded without an error).
TEST_F(BundleTest, TensorsReachingPastTheirDataAreRefused) {
  std::vector<PickledTensor> tensors;
  std::vector<std::string> records;
  auto add = [&](const std::string& name, const torch::Tensor& value) {
    const torch::Tensor t = value.detach().contiguous();
    tensors.push_back({name, t.scalar_type() == torch::kLong ? "LongStorage" : "FloatStorage", t.numel(),
                       t.sizes().vec()});
    records.emplace_back(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  };
  for (const auto& p : net_->named_parameters()) add(p.key(), p.value());
  for (const auto& b : net_->named_buffers()) add(b.key(), b.value());
  const fs::path weights = bundle_ / "weights.pt";
  auto load_with = [&](const std::vector<PickledTensor>& t, const std::vector<std::string>& r) {
    spit(weights, crafted_weights(state_dict_pickle(t), r));
    fix_checksum(bundle_);
    return model_error([&] { load_bundle(bundle_); });
  };
  spit(weights, crafted_weights(state_dict_pickle(tensors), records));
  fix_checksum(bundle_);
  ASSERT_NO_THROW(load_bundle(bundle_));  // the hand-written pickle is a valid state dict

  const size_t victim = 0;  // encoder0a.conv.weight: 4x2x3x3x3 = 216 floats
  ASSERT_EQ(tensors[victim].numel, 216);
  std::vector<std::string> short_records = records;
  short_records[victim] = records[victim].substr(0, 4);
  EXPECT_CONTAINS(load_with(tensors, short_records),
                  "weights.pt: not a readable PyTorch state dict (storage '0' claims 216 elements, "
                  "more than its record's 4 bytes hold)");

  std::vector<PickledTensor> shifted = tensors;
  shifted[victim].offset = 1;  // elements 1..216 of a 216-element storage
  EXPECT_CONTAINS(load_with(shifted, records), "weights.pt: tensor '" + tensors[victim].name +
                                                   "' reaches past the end of its data");
}

TEST_F(BundleTest, WeightsOfAnotherArchitectureNameTheTensorAndBothShapes) {
  UNet3d wider = trained_unet(/*base_features=*/8);
  export_state_dict(wider, bundle_ / "weights.pt");
  fix_checksum(bundle_);
  const std::string message = model_error([&] { load_bundle(bundle_); });
  EXPECT_CONTAINS(message, "weights.pt: tensor 'encoder0a.conv.weight' has shape [8, 2, 3, 3, 3], "
                           "the architecture in model.yaml expects [4, 2, 3, 3, 3]");
  EXPECT_CONTAINS(message, "more problems)");
}

TEST_F(BundleTest, MissingAndUnexpectedTensorsAreNamed) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& p : net_->named_parameters()) dict.insert(p.key(), p.value().detach());
  for (const auto& b : net_->named_buffers()) {
    if (b.key() != "decoder0b.norm.running_var") dict.insert(b.key(), b.value());
  }
  auto write = [&](const c10::Dict<std::string, at::Tensor>& d) {
    const std::vector<char> bytes = torch::pickle_save(d);
    spit(bundle_ / "weights.pt", std::string(bytes.begin(), bytes.end()));
    fix_checksum(bundle_);
  };
  write(dict);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }),
                  "weights.pt: missing tensor 'decoder0b.norm.running_var'");

  dict.insert("decoder0b.norm.running_var", net_->named_buffers()["decoder0b.norm.running_var"]);
  dict.insert("extra.weight", torch::zeros({3}));
  write(dict);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }),
                  "weights.pt: unexpected tensor 'extra.weight' (weights of another architecture?)");

  EXPECT_EQ(dict.erase("extra.weight"), 1u);
  dict.insert_or_assign("head0.bias", net_->named_parameters()["head0.bias"].detach().to(torch::kDouble));
  write(dict);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "tensor 'head0.bias' has dtype Double");

  dict.insert_or_assign("head0.bias", net_->named_parameters()["head0.bias"].detach());
  write(dict);
  EXPECT_NO_THROW(load_bundle(bundle_));
}

// The adaptation threshold chosen for a model travels with it; a bundle
// without one reads back without one (medseg's default then applies).
TEST_F(BundleTest, TheModelsAdaptationThresholdRoundTripsAndIsOptional) {
  EXPECT_EQ(slurp(bundle_ / "model.yaml").find("adaptation:"), std::string::npos);
  EXPECT_FALSE(read_bundle_info(bundle_).adapt_min_change.has_value());
  for (const double value : {0.0, 0.05, 1.0}) {
    BundleInfo info = tiny_info();
    info.adapt_min_change = value;
    save_bundle(bundle_, info, net_);
    EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "adaptation:\n  min_change: ");
    const BundleInfo loaded = load_bundle(bundle_).info;
    ASSERT_TRUE(loaded.adapt_min_change.has_value());
    EXPECT_EQ(*loaded.adapt_min_change, value);
    expect_same_info(loaded, info);
  }
  BundleInfo info = tiny_info();
  info.adapt_min_change = 1.5;
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "other.bundle", info, net_); }), "adaptation.min_change");
}

TEST_F(BundleTest, ABadAdaptationThresholdNamesFileAndKey) {
  BundleInfo info = tiny_info();
  info.adapt_min_change = 0.25;
  save_bundle(bundle_, info, net_);
  const std::string yaml = slurp(bundle_ / "model.yaml");
  const auto error_after = [&](const std::string& pattern, const std::string& replacement) {
    return BundleTest::error_after(yaml, pattern, replacement);
  };
  std::string m = error_after("  min_change: 0.25\n", "  min_change: 1.5\n");
  EXPECT_CONTAINS(m, "model.yaml', key 'adaptation.min_change', line ");
  m = error_after("  min_change: 0.25\n", "  min_change: -0.1\n");
  EXPECT_CONTAINS(m, "key 'adaptation.min_change'");
  m = error_after("  min_change: 0.25\n", "  min_change: lots\n");
  EXPECT_CONTAINS(m, "key 'adaptation.min_change'");
  m = error_after("  min_change: 0.25\n", "  min_chnge: 0.25\n");
  EXPECT_CONTAINS(m, "adaptation.min_chnge");
  m = error_after("adaptation:\n  min_change: 0.25\n", "adaptation: 0.25\n");
  EXPECT_CONTAINS(m, "key 'adaptation'");
}

// The default adaptation policy chosen for a model (methods, checked or not)
// travels with it, each key on its own; a bundle without them reads back
// without them.
TEST_F(BundleTest, TheModelsAdaptationPolicyRoundTripsAndIsOptional) {
  EXPECT_TRUE(read_bundle_info(bundle_).adapt_methods.empty());
  EXPECT_FALSE(read_bundle_info(bundle_).adapt_check.has_value());
  BundleInfo info = tiny_info();
  info.adapt_methods = {"prior"};
  info.adapt_check = false;
  save_bundle(bundle_, info, net_);
  EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "adaptation:\n  methods: [prior]\n  check: false\n");
  BundleInfo loaded = load_bundle(bundle_).info;
  EXPECT_EQ(loaded.adapt_methods, std::vector<std::string>{"prior"});
  ASSERT_TRUE(loaded.adapt_check.has_value());
  EXPECT_FALSE(*loaded.adapt_check);
  expect_same_info(loaded, info);

  info = tiny_info();
  info.adapt_min_change = 0.1;
  info.adapt_methods = {"tent", "adabn"};
  info.adapt_check = true;
  save_bundle(bundle_, info, net_);
  loaded = load_bundle(bundle_).info;
  EXPECT_EQ(loaded.adapt_methods, (std::vector<std::string>{"tent", "adabn"}));
  EXPECT_EQ(loaded.adapt_check, std::optional<bool>(true));
  expect_same_info(loaded, info);

  info = tiny_info();
  info.adapt_prior_windows = 48;
  info.adapt_prior_strength = 2.5;
  save_bundle(bundle_, info, net_);
  EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "adaptation:\n  prior_windows: 48\n  prior_strength: 2.5\n");
  loaded = load_bundle(bundle_).info;
  EXPECT_EQ(loaded.adapt_prior_windows, std::optional<std::int64_t>(48));
  EXPECT_EQ(loaded.adapt_prior_strength, std::optional<double>(2.5));
  EXPECT_TRUE(loaded.adapt_methods.empty());
  expect_same_info(loaded, info);
  info.adapt_prior_windows = 1;
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "w.bundle", info, net_); }), "adaptation.prior_windows");
  info.adapt_prior_windows = 16;
  info.adapt_prior_strength = -1.0;
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "s.bundle", info, net_); }), "adaptation.prior_strength");

  info = tiny_info();
  info.adapt_check = true;  // alone: no methods, no threshold written
  save_bundle(bundle_, info, net_);
  EXPECT_CONTAINS(slurp(bundle_ / "model.yaml"), "adaptation:\n  check: true\nprovenance:");
  expect_same_info(load_bundle(bundle_).info, info);
}

TEST_F(BundleTest, ABadAdaptationPolicyNamesFileAndKey) {
  BundleInfo info = tiny_info();
  info.adapt_methods = {"prior"};
  info.adapt_check = false;
  save_bundle(bundle_, info, net_);
  const std::string yaml = slurp(bundle_ / "model.yaml");
  const auto error_after = [&](const std::string& pattern, const std::string& replacement) {
    return BundleTest::error_after(yaml, pattern, replacement);
  };
  EXPECT_CONTAINS(error_after("  methods: \\[prior\\]\n", "  methods: []\n"),
                  "model.yaml', key 'adaptation.methods', line ");
  EXPECT_CONTAINS(error_after("  methods: \\[prior\\]\n", "  methods: {a: 1}\n"), "key 'adaptation.methods'");
  EXPECT_CONTAINS(error_after("  check: false\n", "  check: sometimes\n"), "key 'adaptation.check'");
  EXPECT_CONTAINS(error_after("  check: false\n", "  checked: false\n"), "adaptation.checked");
  EXPECT_CONTAINS(error_after("  check: false\n", "  check: false\n  prior_windows: 1\n"),
                  "key 'adaptation.prior_windows', line ");
  EXPECT_CONTAINS(error_after("  check: false\n", "  check: false\n  prior_windows: many\n"),
                  "key 'adaptation.prior_windows'");
  EXPECT_CONTAINS(error_after("  check: false\n", "  check: false\n  prior_strength: -2\n"),
                  "key 'adaptation.prior_strength', line ");
}

TEST_F(BundleTest, NewerFormatVersionIsRefused) {
  edit_info(bundle_, "format_version: 1", "format_version: 2");
  const std::string expected = "model.yaml: format version 2 is newer than this medseg supports (1); update medseg";
  EXPECT_CONTAINS(model_error([&] { read_bundle_info(bundle_); }), expected);
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), expected);
}

TEST_F(BundleTest, MissingKeysWrongTypesAndMismatchesNameFileAndKey) {
  const std::string yaml = slurp(bundle_ / "model.yaml");
  const auto error_after = [&](const std::string& pattern, const std::string& replacement) {
    return BundleTest::error_after(yaml, pattern, replacement);
  };
  std::string m = error_after("  depth: 3\n", "");
  EXPECT_CONTAINS(m, "model.yaml', key 'architecture.depth', line ");
  EXPECT_CONTAINS(m, ": missing");
  m = error_after("  depth: 3\n", "  depth: three\n");
  EXPECT_CONTAINS(m, "model.yaml', key 'architecture.depth', line ");
  EXPECT_CONTAINS(m, ": expected an integer, got 'three'");
  m = error_after("  depth: 3\n", "  depth: \"3\"\n");
  EXPECT_CONTAINS(m, "expected an integer, got '3'");
  m = error_after("    kind: batch\n", "    kind: layer\n");
  EXPECT_CONTAINS(m, "key 'architecture.norm.kind'");
  EXPECT_CONTAINS(m, "unknown normalization 'layer'");
  m = error_after("  depth: 3\n", "  depth: 3\n  width: 2\n");
  EXPECT_CONTAINS(m, "key 'architecture.width'");
  m = error_after("  num_classes: 3\n", "  num_classes: 4\n");
  EXPECT_CONTAINS(m, "key 'labels'");
  EXPECT_CONTAINS(m, "3 labels for architecture.num_classes 4");
  m = error_after("  num_domains: 2\n", "  num_domains: 1\n");
  EXPECT_CONTAINS(m, "2 domains for architecture.norm.num_domains 1");
  m = error_after("  in_channels: 2\n", "  in_channels: 1\n");
  EXPECT_CONTAINS(m, "2 names for architecture.in_channels 1");
  m = error_after("patch_size: \\[8, 16, 24\\]", "patch_size: [8, 16, 25]");
  EXPECT_CONTAINS(m, "key 'patch_size'");
  m = error_after("patch_size: .*", "patch_size: [8, 16, 24");
  EXPECT_CONTAINS(m, "invalid YAML");

  fs::remove(bundle_ / "model.yaml");
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "model.yaml: not found");
  EXPECT_CONTAINS(model_error([&] { load_bundle(dir_ / "nothing"); }), "no such directory");
  spit(bundle_ / "model.yaml", yaml);
  fs::remove(bundle_ / "weights.pt");
  EXPECT_CONTAINS(model_error([&] { load_bundle(bundle_); }), "weights.pt: not found");
}

// Found by mutating model.yaml files (issue 17): an overflowing number used
// to escape as nlohmann's "internal error: [json.exception.out_of_range.406]".
TEST_F(BundleTest, OverflowingNumbersAndLongValuesAreOneLineErrorsWithKeyAndLine) {
  const std::string yaml = slurp(bundle_ / "model.yaml");
  const auto error_after = [&](const std::string& pattern, const std::string& replacement) {
    const std::string message = BundleTest::error_after(yaml, pattern, replacement);
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  };
  std::string m = error_after("1\\.0e-300", "1e309");
  EXPECT_CONTAINS(m, "model.yaml', key 'preprocessing.a[1]', line ");
  EXPECT_CONTAINS(m, "number out of range (beyond +-1.8e308): '1e309'");
  m = error_after("loss: .*", "loss: -1e400");
  EXPECT_CONTAINS(m, "key 'provenance.metrics.loss', line ");
  EXPECT_CONTAINS(m, "'-1e400' is out of the range of numbers");
  m = error_after("  depth: 3\n", "  depth: 99999999999999999999\n");
  EXPECT_CONTAINS(m, "key 'architecture.depth', line ");
  EXPECT_CONTAINS(m, "'99999999999999999999' is out of the range of integers");
  m = error_after("  depth: 3\n", "  depth: |\n    " + std::string(200, 'x') + "\n    second line\n");
  EXPECT_CONTAINS(m, "key 'architecture.depth', line ");
  EXPECT_CONTAINS(m, "expected an integer, got '" + std::string(60, 'x') + "...'");
  EXPECT_LT(m.size(), 250u) << m;
  m = error_after("  depth: 3\n", "  depth: 3\n  [a, b]: 1\n");
  EXPECT_CONTAINS(m, "a key must be plain text");
}

TEST_F(BundleTest, SaveReplacesABundleButNeverAnythingElse) {
  BundleInfo info = tiny_info();
  info.version = "4";
  save_bundle(bundle_.string() + "/", info, net_);
  EXPECT_EQ(read_bundle_info(bundle_).version, "4");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);

  const fs::path data = dir_ / "data";
  fs::create_directories(data);
  spit(data / "scan.nii.gz", "precious");
  EXPECT_THROW(save_bundle(data, info, net_), IoError);
  EXPECT_EQ(slurp(data / "scan.nii.gz"), "precious");

  info.architecture.base_features(8);
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "other", info, net_); }),
                  "info.architecture differs from the model's options at 'base_features'");
  info = tiny_info();
  info.labels.pop_back();
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "other", info, net_); }), "key 'labels'");
  info = tiny_info();
  info.preprocessing_json = "{not json";
  EXPECT_CONTAINS(model_error([&] { save_bundle(dir_ / "other", info, net_); }), "preprocessing_json is not valid JSON");
  EXPECT_FALSE(fs::exists(dir_ / "other"));
}

/// Runs `command`, returns its standard output (and the exit status).
std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    status = -1;
    return out;
  }
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

TEST_F(BundleTest, PythonTorchLoadsExportedStateDictAndBundleWeights) {
  // Debian's python3-torch; the python3 first on PATH may be another one.
  const std::string python = "/usr/bin/python3";
  int status = 0;
  // scripts/setup.sh installs python3-torch: without it the setup is broken.
  ASSERT_TRUE(fs::exists(python)) << python << " not found (run scripts/setup.sh)";
  run(python + " -c 'import torch' 2>/dev/null", status);
  ASSERT_EQ(status, 0) << python << " has no torch module (scripts/setup.sh installs python3-torch)";

  const fs::path exported = dir_ / "export" / "state_dict.pt";
  export_state_dict(net_, exported);
  const auto params = net_->named_parameters();
  const auto buffers = net_->named_buffers();
  const std::string script =
      "import sys, torch\n"
      "for path in sys.argv[1:]:\n"
      "    d = torch.load(path)\n"
      "    assert type(d) is dict, type(d)\n"
      "    w = d['encoder1b.conv.weight']\n"
      "    print(len(d), repr(w.double().sum().item()), repr(w.flatten()[5].item()),\n"
      "          d['encoder0a.norm.num_batches_tracked'].tolist(), d['decoder0a.norm.running_var'].dtype)\n";
  spit(dir_ / "check.py", script);
  const std::string out = run(python + " '" + (dir_ / "check.py").string() + "' '" + exported.string() + "' '" +
                                  (bundle_ / "weights.pt").string() + "' 2>&1",
                              status);
  ASSERT_EQ(status, 0) << out;

  const torch::Tensor w = params["encoder1b.conv.weight"];
  std::ostringstream expected_counts;
  expected_counts << "[" << buffers["encoder0a.norm.num_batches_tracked"][0].item<int64_t>() << ", "
                  << buffers["encoder0a.norm.num_batches_tracked"][1].item<int64_t>() << "]";
  std::istringstream lines(out);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    size_t count = 0;
    double sum = 0, element = 0;
    fields >> count >> sum >> element;
    std::string rest;
    std::getline(fields, rest);
    EXPECT_EQ(count, params.size() + buffers.size()) << line;
    EXPECT_NEAR(sum, w.to(torch::kDouble).sum().item<double>(), 1e-12) << line;
    EXPECT_EQ(element, static_cast<double>(w.flatten()[5].item<float>())) << line;
    EXPECT_CONTAINS(rest, expected_counts.str());
    EXPECT_CONTAINS(rest, "torch.float32");
    ++checked;
  }
  EXPECT_EQ(checked, 2) << out;
}

TEST_F(BundleTest, PyYamlReadsModelYamlAsTheSameValues) {
  // Another YAML reader (YAML 1.1) must see the same types and numbers.
  const std::string python = "/usr/bin/python3";
  int status = 0;
  // python3-yaml comes with python3-torch, which scripts/setup.sh installs.
  ASSERT_TRUE(fs::exists(python)) << python << " not found (run scripts/setup.sh)";
  run(python + " -c 'import yaml' 2>/dev/null", status);
  ASSERT_EQ(status, 0) << python << " has no yaml module (python3-yaml, a dependency of python3-torch "
                       << "that scripts/setup.sh installs)";
  spit(dir_ / "check.py",
       "import json, sys, yaml\n"
       "info = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))\n"
       "print(json.dumps(info['preprocessing'], sort_keys=True, separators=(',', ':'), ensure_ascii=False))\n"
       "norm = info['architecture']['norm']\n"
       "print(repr(norm['eps']), repr(norm['momentum']), info['version'], info['provenance']['created'])\n"
       "h = 14695981039346656037\n"  // docs/models.md: the checksum in Python
       "for b in open(sys.argv[1][:-len('model.yaml')] + 'weights.pt', 'rb').read():\n"
       "    h = ((h ^ b) * 1099511628211) % 2**64\n"
       "print(f'{h:016x}' == info['weights']['fnv1a64'])\n");
  const std::string out =
      run(python + " '" + (dir_ / "check.py").string() + "' '" + (bundle_ / "model.yaml").string() + "' 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, std::string(kPreprocessing) + "\n0.001 0.3 3 2024-05-01T12:00:00Z\nTrue\n") << slurp(bundle_ / "model.yaml");
}

TEST(Fnv1a, MatchesPublishedVectorsAndContinuesOverPieces) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ULL);
  EXPECT_EQ(fnv1a("bar", fnv1a("foo")), fnv1a("foobar"));
  // pipeline::fnv1a's historic values (seeds, phantoms, cache keys) stay.
  EXPECT_EQ(fnv1a("foobar", kFnv1aPipelineOffset), 0x88fad7c0a8ff07f2ULL);
}

}  // namespace
}  // namespace medseg::models
