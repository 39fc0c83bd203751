#include "pipeline/train/training_data.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/error.h"
#include "pipeline/data/dataset_check.h"
#include "pipeline/data/preprocessed_cache.h"
#include "core/atomic_file.h"
#include "core/timestamp.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/random.h"
#include "pipeline/synth/phantom.h"
#include "pipeline/synth/scanner_profile.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

std::string label_list(const std::map<int, std::string>& labels) {
  std::string text;
  for (const auto& [value, name] : labels) text += (text.empty() ? "" : ", ") + std::to_string(value) + " " + name;
  return text;
}

void check_labels(const TrainConfig& config, const Dataset& dataset) {
  if (config.dataset.labels.empty()) return;
  std::set<int> expected, found;
  for (const auto& item : config.dataset.labels) expected.insert(item.first);
  for (const auto& item : dataset.labels) found.insert(item.first);
  if (expected != found) {
    throw ConfigError(config.dataset.labels_location + ": labels {" + label_list(config.dataset.labels) +
                      "} do not match the dataset's {" + label_list(dataset.labels) + "} (" +
                      dataset.source.string() + ")");
  }
}

// The config may override what the planner decided.
void apply_overrides(const TrainConfig& config, const DatasetFingerprint& fingerprint, DatasetPlan& plan) {
  const auto& pc = config.preprocessing;
  auto& pre = plan.preprocessing;
  if (pc.target_spacing) pre.target_spacing = *pc.target_spacing;
  if (pc.crop_to_nonzero) pre.crop_to_nonzero = *pc.crop_to_nonzero;
  if (!pc.normalization.empty()) {
    const std::size_t channels = pre.normalization.size();
    if (pc.normalization.size() != 1 && pc.normalization.size() != channels) {
      throw ConfigError("'" + config.file.string() + "', key 'preprocessing.normalization': " +
                        std::to_string(pc.normalization.size()) + " recipes given for " + std::to_string(channels) +
                        " channels (give one, or one per channel)");
    }
    for (std::size_t c = 0; c < channels; ++c) {
      NormalizationRecipe& r = pre.normalization[c];
      r.kind = pc.normalization.size() == 1 ? pc.normalization[0] : pc.normalization[c];
      r.window_low = pc.window[0];
      r.window_high = pc.window[1];
      r.percentile_low = pc.percentiles[0];
      r.percentile_high = pc.percentiles[1];
      if (c < fingerprint.foreground_intensity.size()) r.stats = fingerprint.foreground_intensity[c];
    }
  }
}

std::array<std::int64_t, 3> choose_patch(const TrainConfig& config, const DatasetPlan& plan,
                                         const std::array<std::int64_t, 3>& stride) {
  std::array<std::int64_t, 3> patch = config.training.patch_size.value_or(plan.patch_size);
  static const char* axis[] = {"i", "j", "k"};
  for (int d = 0; d < 3; ++d) {
    if (patch[d] % stride[d] != 0) {
      throw ConfigError("'" + config.file.string() + "', key 'training.patch_size': " + std::to_string(patch[d]) +
                        " voxels along " + axis[d] + " is not a multiple of " + std::to_string(stride[d]) +
                        " (the U-Net's total stride; change the patch size or model.depth)");
    }
  }
  return patch;
}

TrainingCase to_training_case(const CaseEntry& entry, PreprocessedCase&& pre, std::int64_t domain,
                              std::int64_t num_classes) {
  TrainingCase c;
  c.id = entry.id;
  c.image = pre.image.data.dim() == 3 ? pre.image.data.unsqueeze(0) : pre.image.data;
  c.image = c.image.contiguous();
  c.labels = pre.labels->data.to(at::kShort).contiguous();
  c.domain = domain;
  index_class_locations(c, num_classes);
  return c;
}

}  // namespace

CaseEntry render_through_profile(const CaseEntry& entry, const std::string& profile, std::uint64_t seed,
                                 const fs::path& folder) {
  if (profile == "original") return entry;
  CaseEntry rendered = entry;
  rendered.id = entry.id + "_" + profile;
  rendered.domain = profile;
  rendered.images.clear();
  fs::create_directories(folder);
  for (std::size_t ch = 0; ch < entry.images.size(); ++ch) {
    const fs::path out = folder / (rendered.id + "_" + std::to_string(ch) + "_s" + std::to_string(seed) + ".nii.gz");
    if (!fs::exists(out)) {  // deterministic: a file already there is this rendering
      Volume volume = read_volume(entry.images[ch]);
      const auto& sp = volume.geometry.spacing;
      const double spacing = (sp[0] + sp[1] + sp[2]) / 3.0;  // as `medseg synth --from`
      volume.data = simulate_scanner_on_image(volume.data, scanner_profile(profile), spacing,
                                              derive_seed(seed, fnv1a(rendered.id), ch));
      const fs::path partial = out.parent_path() / (out.stem().string() + ".partial.nii.gz");
      write_volume(volume, partial, PixelType::kFloat32);
      fs::rename(partial, out);
    }
    rendered.images.push_back(out);
  }
  return rendered;
}

fs::path write_synthetic_dataset(const SyntheticDatasetConfig& config, const fs::path& folder) {
  fs::create_directories(folder);
  core::remove_stale_temporaries(folder);
  std::ostringstream list;
  list << "# Written by medseg train from dataset.synthetic; deterministic, safe to delete.\n"
       << "name: synthetic\nchannels: [image]\nlabels: {0: background, 1: organ, 2: lesion, 3: box}\ncases:\n";
  PhantomOptions options;
  options.size = {config.size, config.size, config.size};
  options.spacing_mm = config.spacing_mm;
  for (std::int64_t i = 0; i < config.count; ++i) {
    options.seed = static_cast<std::uint64_t>(config.seed + i);
    for (const auto& name : config.profiles) {
      const ScannerProfile profile = scanner_profile(name);
      const std::string id = phantom_name(options.seed, name);
      const fs::path image = folder / (id + ".nii.gz");
      const fs::path labels = folder / (id + "_labels.nii.gz");
      if (!fs::exists(image) || !fs::exists(labels)) {
        const Phantom phantom = make_phantom(options, profile);
        write_volume(phantom.image, image, PixelType::kFloat32);
        write_volume(phantom.labels, labels, PixelType::kUInt8);
      }
      list << "  - {id: " << id << ", image: " << image.filename().string()
           << ", label: " << labels.filename().string() << ", domain: " << name << "}\n";
    }
  }
  const fs::path yaml = folder / "cases.yaml";
  core::write_text_file_atomically(yaml, list.str());
  return yaml;
}

std::vector<std::string> validation_fold(std::vector<std::string> ids, std::int64_t num_folds, std::int64_t fold) {
  std::sort(ids.begin(), ids.end());
  Random random(derive_seed(12345, fnv1a("folds"), 0));
  for (std::size_t i = ids.size(); i > 1; --i) {  // Fisher-Yates with our portable draws
    std::swap(ids[i - 1], ids[static_cast<std::size_t>(random.index(static_cast<std::int64_t>(i)))]);
  }
  std::vector<std::string> chosen;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (static_cast<std::int64_t>(i) % num_folds == fold) chosen.push_back(ids[i]);
  }
  return chosen;
}

TrainingData prepare_training_data(const TrainConfig& config, const std::array<std::int64_t, 3>& total_stride,
                                   const std::function<void(const std::string&)>& log) {
  TrainingData data;
  fs::path source = config.dataset.source;
  if (config.dataset.synthetic.count > 0) {
    source = write_synthetic_dataset(config.dataset.synthetic, config.output / "synthetic_data");
    log("synthetic dataset: " + source.string());
  }
  data.dataset = read_dataset(source);
  const Dataset& ds = data.dataset;
  check_labels(config, ds);
  log("dataset '" + ds.name + "': " + std::to_string(ds.cases.size()) + " cases, labels {" + label_list(ds.labels) +
      "}; checking every file");
  if (ds.cases.empty()) throw IoError("dataset '" + ds.source.string() + "' has no cases");
  // One reading of every file: the check measures each sound case on the way.
  FingerprintOptions fo;
  fo.orientation = config.preprocessing.orientation;
  FingerprintBuilder fingerprint(ds, fo);
  throw_if_problems(ds, check_dataset(ds, {}, [&](const CaseEntry& c, const Volume& labels,
                                                  const std::vector<Volume>& images) { fingerprint.add(c, labels, images); }));
  data.fingerprint = fingerprint.finish();
  PlanOptions po;
  po.orientation = config.preprocessing.orientation;
  po.memory_budget_bytes = static_cast<std::int64_t>(config.training.memory_budget_gib * double(1LL << 30));
  po.base_features = static_cast<int>(config.model.architecture.base_features());
  po.batch_size = static_cast<int>(config.training.batch_size);
  po.divisor = *std::max_element(total_stride.begin(), total_stride.end());
  data.plan = plan_dataset(ds, data.fingerprint, po);
  apply_overrides(config, data.fingerprint, data.plan);
  data.patch_size = choose_patch(config, data.plan, total_stride);

  // Domains: the simulated scanners, or the config's names, or the
  // dataset's, or one unnamed domain.
  const SimulatedScannersConfig& simulated = config.dataset.simulated_scanners;
  data.domains = config.model.domains.empty() ? domain_names(ds) : config.model.domains;
  if (!simulated.profiles.empty()) {
    if (data.domains.size() > 1) {
      throw ConfigError("'" + config.file.string() + "', key 'dataset.simulated_scanners': the dataset's cases come "
                        "from " + std::to_string(data.domains.size()) + " domains; simulated scanners need a "
                        "dataset from one");
    }
    data.domains = simulated.profiles;
  }
  if (data.domains.empty()) data.domains = {"default"};
  auto domain_of = [&](const CaseEntry& e) -> std::int64_t {
    if (e.domain.empty()) return 0;
    const auto it = std::find(data.domains.begin(), data.domains.end(), e.domain);
    if (it == data.domains.end()) {
      throw ConfigError("'" + config.file.string() + "', key 'model.domains': case '" + e.id + "' comes from domain '" +
                        e.domain + "', which is not listed");
    }
    return it - data.domains.begin();
  };

  std::vector<std::string> ids;
  for (const auto& e : ds.cases) ids.push_back(e.id);
  std::set<std::string> validation;
  if (!config.dataset.validation_cases.empty()) {
    for (const auto& id : config.dataset.validation_cases) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
        throw ConfigError("'" + config.file.string() + "', key 'dataset.validation_cases': no case '" + id +
                          "' in " + ds.source.string());
      }
      validation.insert(id);
    }
  } else if (ids.size() > 1) {
    const auto fold = validation_fold(ids, std::min<std::int64_t>(config.dataset.num_folds,
                                                                  static_cast<std::int64_t>(ids.size())),
                                      config.dataset.fold);
    validation.insert(fold.begin(), fold.end());
  }
  const bool single = ids.size() == 1;
  if (single) {
    validation.insert(ids[0]);
    log("only one case: it is used for training AND validation, so validation Dice measures fit, not "
        "generalization");
  } else if (validation.size() == ids.size()) {
    throw ConfigError("'" + config.file.string() + "', key 'dataset.validation_cases': every case is a "
                      "validation case; none is left for training");
  }

  data.num_classes = static_cast<std::int64_t>(ds.labels.rbegin()->first) + 1;
  const Preprocessor preprocessor(data.plan.preprocessing);
  const PreprocessedCache cache(config.dataset.cache, data.plan.preprocessing);
  for (const auto& original : ds.cases) {
    const bool is_validation = validation.count(original.id) != 0;
    if (simulated.profiles.empty()) {
      TrainingCase c = to_training_case(original, cache.get_or_compute(original, preprocessor), domain_of(original),
                                       data.num_classes);
      if (is_validation) data.validation.push_back(c);
      if (!is_validation || single) data.training.push_back(std::move(c));
      continue;
    }
    // Every rendering trains; validation sees the first profile's only.
    for (std::size_t k = 0; k < simulated.profiles.size(); ++k) {
      if (is_validation && !single && k > 0) break;
      CaseEntry entry = render_through_profile(original, simulated.profiles[k],
                                               static_cast<std::uint64_t>(simulated.seed),
                                               config.output / "simulated_scanners");
      entry.domain = simulated.profiles[k];
      TrainingCase c = to_training_case(entry, cache.get_or_compute(entry, preprocessor),
                                       static_cast<std::int64_t>(k), data.num_classes);
      if (is_validation && k == 0) data.validation.push_back(c);
      if (!is_validation || single) data.training.push_back(std::move(c));
    }
  }
  if (!simulated.profiles.empty()) {
    log("simulated scanners: each case also rendered through " + std::to_string(simulated.profiles.size() - 1) +
        " profile(s) into " + (config.output / "simulated_scanners").string() + ", one domain each");
  }
  log("preprocessed into " + cache.folder().string() + ": " + std::to_string(data.training.size()) +
      " training, " + std::to_string(data.validation.size()) + " validation cases");
  return data;
}

}  // namespace medseg::pipeline
