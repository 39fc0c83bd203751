// Model bundles on disk: saving atomically, loading with every tensor checked
// against the architecture, the FNV-1a checksum of weights.pt, and the plain
// PyTorch state-dict export. The model.yaml schema is bundle_format.cpp.
#include "models/bundle.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/error_message.h"
#include "core/hash.h"
#include "models/architecture.h"
#include "models/detail/architecture_json.h"
#include "models/detail/bundle_format.h"
#include "models/detail/state_dict_check.h"

namespace medseg::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

using detail::kInfoFile;
using detail::kWeightsFile;
using detail::ParsedInfo;

// ---------------------------------------------------------------- helpers

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

std::vector<char> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelError(file.string() + ": cannot read (" + std::strerror(errno) + ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ModelError(file.string() + ": read error");
  return bytes;
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
  const ordered_json written = detail::architecture_json(info.architecture, ArchitectureKeys::kComplete);
  const ordered_json actual = detail::architecture_json(model->options, ArchitectureKeys::kComplete);
  for (const auto& [key, value] : actual.items()) {
    if (written[key] != value) {
      throw ModelError(where + ": info.architecture differs from the model's options at '" + key + "' (" +
                       written[key].dump() + " vs the model's " + value.dump() + ")");
    }
  }
  if (const auto [key, what] = detail::find_problem(info); !key.empty()) {
    throw ModelError(where + ": key '" + key + "': " + what);
  }
  ordered_json tree;
  try {
    tree = detail::info_json(info);
  } catch (const ModelError& e) {
    throw ModelError(where + ": " + e.what());
  }
  const std::vector<char> weights = pickle_state_dict(model);
  tree["weights"] = {{"file", kWeightsFile},
                     {"fnv1a64", hex64(core::fnv1a(std::string_view(weights.data(), weights.size())))},
                     {"tensors", named_tensors(model).size()}};
  const std::string yaml = detail::to_yaml_text(tree);

  std::error_code ec;
  if (fs::exists(directory, ec)) {
    // Never replace something that is not a bundle (a typo must not delete a data folder).
    const bool bundle = fs::is_directory(directory, ec) &&
                        (fs::exists(directory / kInfoFile, ec) || fs::is_empty(directory, ec));
    if (!bundle) {
      throw IoError(where + ": refusing to replace it: it exists and is not a model bundle (no model.yaml)");
    }
  }
  core::write_folder_atomically(directory, [&](const fs::path& folder) {
    core::write_text_file_atomically(folder / kWeightsFile, std::string_view(weights.data(), weights.size()));
    core::write_text_file_atomically(folder / kInfoFile, yaml);
  });
}

BundleInfo read_bundle_info(const std::filesystem::path& directory) { return detail::read_info(directory).info; }

Bundle load_bundle(const std::filesystem::path& directory) {
  ParsedInfo parsed = detail::read_info(directory);
  const std::string info_file = (directory / kInfoFile).string();
  const fs::path weights_path = directory / parsed.weights.file;
  const std::string file = weights_path.string();
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) throw ModelError(file + ": not found (model.yaml names it)");
  const std::vector<char> bytes = read_file(weights_path);
  if (hex64(core::fnv1a(std::string_view(bytes.data(), bytes.size()))) != parsed.weights.checksum) {
    throw ModelError(file + ": checksum differs from model.yaml — file corrupted or replaced");
  }

  std::vector<std::pair<std::string, at::Tensor>> loaded;
  // LibTorch's unpickler is not safe on crafted bytes (detail/state_dict_check.h).
  detail::check_state_dict_pickle(bytes, file);
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
      detail::check_tensor_in_storage(loaded.back().second, loaded.back().first, file);
    }
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw ModelError(file + ": not a readable PyTorch state dict (" + core::one_line(e) + ")");
  }

  Bundle bundle;
  bundle.info = std::move(parsed.info);
  try {
    bundle.model = UNet3d(bundle.info.architecture);
  } catch (const std::exception& e) {
    throw ModelError(info_file + ", key 'architecture': cannot build the network (" + core::one_line(e) + ")");
  }
  load_tensors(bundle.model, loaded, file);
  bundle.model->eval();
  return bundle;
}

void export_state_dict(UNet3d& model, const std::filesystem::path& file) {
  if (!model) throw ModelError("export_state_dict '" + file.string() + "': no model");
  const std::vector<char> bytes = pickle_state_dict(model);
  std::error_code ec;
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  core::write_text_file_atomically(file, std::string_view(bytes.data(), bytes.size()));
}

std::string bundle_info_to_json(const BundleInfo& info) { return detail::info_json(info).dump(2); }

}  // namespace medseg::models
