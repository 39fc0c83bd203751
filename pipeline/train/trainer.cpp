#include "pipeline/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/autocast.h"
#include "models/bundle.h"
#include "core/error.h"
#include "models/losses.h"
#include "models/precision.h"
#include "models/runtime.h"
#include "core/atomic_file.h"
#include "core/timestamp.h"
#include "pipeline/io/read_limits.h"
#include "pipeline/preprocess/plan_json.h"
#include "pipeline/random.h"
#include "pipeline/train/batch_loader.h"
#include "pipeline/train/checkpoint.h"
#include "pipeline/train/gradient_averaging.h"
#include "pipeline/train/precise_batch_norm.h"
#include "pipeline/train/process_group.h"
#include "pipeline/train/synced_batch_norm.h"
#include "pipeline/train/model_options.h"
#include "pipeline/train/training_data.h"
#include "pipeline/train/validation.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The log keeps the epochs the checkpoint covers, so a resumed run's log
// reads as if it had never stopped.
void truncate_log(const fs::path& file, std::int64_t epochs) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).at("epoch").get<std::int64_t>() <= epochs) kept += line + "\n";
    } catch (const std::exception&) {
      // A line cut short by a kill: dropped.
    }
  }
  core::write_text_file_atomically(file, kept);
}

// A bundle's metrics are those of the latest validation. A resumed run
// takes them from the (truncated) log, so that model_last between the resume
// and the next validation says what an uninterrupted run's would.
std::map<std::string, double> last_validation_metrics(const fs::path& log_file, const models::BundleInfo& info) {
  std::ifstream in(log_file);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("validation_dice")) last = j;
  }
  std::map<std::string, double> metrics;
  if (last.is_null()) return metrics;
  metrics["epoch"] = last.at("epoch").get<double>();
  metrics["mean_dice"] = last.at("mean_validation_dice").get<double>();
  const auto& dice = last.at("validation_dice");
  for (std::size_t k = 0; k < dice.size() && k + 1 < info.labels.size(); ++k) {
    metrics["dice/" + info.labels[k + 1].name] = dice[k].is_null() ? std::nan("") : dice[k].get<double>();
  }
  return metrics;
}

std::string fingerprint_json(const DatasetFingerprint& fp) {
  nlohmann::json j;
  j["orientation"] = fp.orientation;
  for (const auto& c : fp.cases) {
    j["cases"].push_back({{"id", c.id}, {"spacing", c.spacing}, {"size", c.size}, {"cropped_size", c.cropped_size}});
  }
  for (const auto& s : fp.foreground_intensity) {
    j["foreground_intensity"].push_back({{"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max},
                                         {"median", s.median}, {"percentile_00_5", s.percentile_00_5},
                                         {"percentile_99_5", s.percentile_99_5}});
  }
  for (const auto& [label, voxels] : fp.label_voxels) j["label_voxels"][std::to_string(label)] = voxels;
  return j.dump();
}

// ITK-SNAP's first label colours, so viewers show familiar colours.
std::array<std::uint8_t, 3> label_colour(int value) {
  static const std::array<std::array<std::uint8_t, 3>, 8> palette{{{255, 0, 0},
                                                                   {0, 255, 0},
                                                                   {0, 0, 255},
                                                                   {255, 255, 0},
                                                                   {0, 255, 255},
                                                                   {255, 0, 255},
                                                                   {255, 239, 213},
                                                                   {0, 0, 205}}};
  if (value == 0) return {0, 0, 0};
  return palette[static_cast<std::size_t>(value - 1) % palette.size()];
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainingConfig& t, models::UNet3d& model) {
  if (t.optimizer == Optimizer::kAdamW) {
    return std::make_unique<torch::optim::AdamW>(
        model->parameters(), torch::optim::AdamWOptions(t.learning_rate).weight_decay(t.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      model->parameters(),
      torch::optim::SGDOptions(t.learning_rate).momentum(t.momentum).nesterov(true).weight_decay(t.weight_decay));
}

// nnU-Net's poly schedule: lr0 * (1 - epoch / epochs)^0.9, per epoch.
double learning_rate(const TrainingConfig& t, std::int64_t epoch_index) {
  if (t.lr_schedule == LrSchedule::kConstant) return t.learning_rate;
  return t.learning_rate * std::pow(1.0 - static_cast<double>(epoch_index) / static_cast<double>(t.epochs), 0.9);
}

[[noreturn]] void diverged(const fs::path& checkpoint, std::int64_t epoch, std::int64_t iteration,
                           const std::string& what, std::int64_t last_good_epoch) {
  std::string kept = last_good_epoch > 0 ? "the checkpoint of epoch " + std::to_string(last_good_epoch) + " (" +
                                               checkpoint.string() + ") is kept"
                                         : "no epoch had completed, so there is no checkpoint";
  throw ModelError("training diverged at epoch " + std::to_string(epoch) + ", iteration " + std::to_string(iteration) +
                   ": " + what + "; " + kept +
                   ". Lower training.learning_rate, keep training.gradient_clip on, or check the data");
}

}  // namespace

std::string to_json_line(const EpochRecord& r) {
  nlohmann::json j{{"epoch", r.epoch},
                   {"train_loss", r.train_loss},
                   {"learning_rate", r.learning_rate},
                   {"seconds", r.seconds},
                   {"train_seconds", r.train_seconds},
                   {"data_wait_seconds", r.data_wait_seconds},
                   {"patches_per_second", r.patches_per_second},
                   {"precision", r.precision},
                   {"best", r.best}};
  if (r.world_size > 1) {
    j["world_size"] = r.world_size;
    j["communication_seconds"] = r.communication_seconds;
    j["communication_bytes"] = r.communication_bytes;
  }
  if (!r.validation_dice.empty()) {
    nlohmann::json dice = nlohmann::json::array();
    for (double d : r.validation_dice) dice.push_back(std::isnan(d) ? nlohmann::json(nullptr) : nlohmann::json(d));
    j["validation_dice"] = dice;
    j["mean_validation_dice"] = r.mean_validation_dice;
  }
  if (r.precise_bn_seconds >= 0.0) j["precise_bn_seconds"] = r.precise_bn_seconds;
  return j.dump();
}

namespace {

// The steps of train(), named as nnU-Net's run_training names them: open the
// run folder, build the data, then per epoch train, validate and save.

/// The run folder's files, and whether a checkpoint is there to resume.
struct RunFolder {
  fs::path checkpoint;
  fs::path config;
  fs::path log;
  std::string effective_config;  ///< to_yaml(config): what --resume compares
  bool has_checkpoint = false;
};

/// Whether the run folder's saved config means `effective`. Text first; else
/// the saved file is loaded again, so that a run saved by an older medseg
/// (without a key added since, which takes its default) still resumes, while
/// any changed value refuses.
bool same_effective_config(const fs::path& saved, const std::string& effective) {
  if (read_text(saved) == effective) return true;
  try {
    return to_yaml(load_saved_train_config(saved)) == effective;
  } catch (const ConfigError&) {
    return false;  // e.g. a key this version no longer knows: not the same run
  }
}

/// A new run (config.yaml written, empty log), or the run being resumed
/// (same effective config required). Refuses to start over an existing run.
RunFolder run_folder_paths(const TrainConfig& config) {
  RunFolder run;
  run.checkpoint = config.output / "checkpoint.pt";
  run.config = config.output / "config.yaml";
  run.log = config.output / "log.jsonl";
  run.effective_config = to_yaml(config);
  run.has_checkpoint = fs::exists(run.checkpoint);
  return run;
}

RunFolder open_run_folder(const TrainConfig& config, const TrainOptions& options) {
  fs::create_directories(config.output);
  // What a killed run was writing (a checkpoint's or bundle's temporary):
  // never read, but each may be as large as a checkpoint.
  core::remove_stale_temporaries(config.output);
  RunFolder run = run_folder_paths(config);
  if (options.resume) {
    if (!fs::exists(run.config)) {
      throw ConfigError("--resume: '" + config.output.string() + "' holds no training run to resume");
    }
    if (!same_effective_config(run.config, run.effective_config)) {
      throw ConfigError("--resume: the config differs from the one the run in '" + config.output.string() +
                        "' started with (" + run.config.string() + "); resume with the same config and --set values");
    }
  } else if (run.has_checkpoint) {
    throw ConfigError("'" + config.output.string() +
                      "' already holds a training run (checkpoint.pt): pass --resume to continue it, or choose "
                      "another output folder");
  } else {
    core::write_text_file_atomically(run.config, run.effective_config);
    core::write_text_file_atomically(run.log, "");
  }
  return run;
}

/// What model_last/model_best carry besides the weights.
models::BundleInfo bundle_info(const TrainConfig& config, const TrainOptions& options, const TrainingData& data,
                               const models::UNet3d& model, const RunFolder& run, std::int64_t resumed_epoch) {
  models::BundleInfo info;
  info.name = config.file.stem().string();
  info.version = "1";
  info.architecture = model->options;
  info.channel_names = data.dataset.channel_names;
  for (int v = 0; v < data.num_classes; ++v) {
    const auto it = data.dataset.labels.find(v);
    info.labels.push_back({v, it != data.dataset.labels.end() ? it->second : "label_" + std::to_string(v),
                           label_colour(v)});
  }
  info.domains = data.domains;
  info.patch_size = data.patch_size;
  info.preprocessing_json = plan_to_json(data.plan.preprocessing);
  info.adapt_min_change = config.adaptation.min_change;
  for (const AdaptationMethod m : config.adaptation.methods) info.adapt_methods.push_back(to_string(m));
  info.adapt_check = config.adaptation.check;
  info.adapt_prior_windows = config.adaptation.prior_windows;
  info.adapt_prior_strength = config.adaptation.prior_strength;
  info.provenance.medseg_version = options.software_version;
  info.provenance.config_yaml = run.effective_config;
  info.provenance.fingerprint_json = fingerprint_json(data.fingerprint);
  if (resumed_epoch > 0) info.provenance.metrics = last_validation_metrics(run.log, info);
  return info;
}

/// The iterations of one epoch: fills the record's loss, timing and
/// throughput. Throws ModelError (keeping the last checkpoint) on divergence.
void train_epoch(const TrainingConfig& tc, const RunFolder& run, models::UNet3d& model,
                 torch::optim::Optimizer& optimizer, BatchLoader& loader, bool bf16, std::int64_t last_good_epoch,
                 ProcessGroup* group, const TrainerCallbacks& callbacks, EpochRecord& record) {
  const auto start = Clock::now();
  const double communication_before = group ? group->seconds_communicating() : 0.0;
  const std::int64_t bytes_before = group ? group->bytes_communicated() : 0;
  const std::vector<torch::Tensor> parameters = model->parameters();
  const std::int64_t epoch = record.epoch;
  const std::int64_t iterations = tc.iterations_per_epoch;
  for (auto& param_group : optimizer.param_groups()) param_group.options().set_lr(record.learning_rate);
  const double wait_before = loader.wait_seconds();
  const models::DiceCeOptions loss_options;
  double loss_sum = 0.0;
  for (std::int64_t it = 1; it <= iterations; ++it) {
    const std::int64_t global = (epoch - 1) * iterations + (it - 1);
    Batch batch = loader.next();
    // Dropout and any other draw from LibTorch's generator: a function of
    // the iteration, so a resumed run draws the same.
    torch::manual_seed(derive_seed(static_cast<std::uint64_t>(tc.seed), fnv1a("iteration"),
                                   static_cast<std::uint64_t>(global)));
    optimizer.zero_grad();
    std::vector<torch::Tensor> outputs;
    {
      models::Bf16Autocast autocast(bf16);
      outputs = model->forward_all(batch.image, batch.domains);
    }
    for (auto& o : outputs) o = o.to(torch::kFloat);
    const torch::Tensor loss = outputs.size() > 1 ? models::deep_supervision_loss(outputs, batch.labels, loss_options)
                                                  : models::dice_ce_loss(outputs.front(), batch.labels, loss_options);
    double value = loss.item<double>();
    // A rank alone must not stop: its peers would wait in the next
    // all-reduce. Its non-finite loss travels with the gradients instead.
    if (!group && !std::isfinite(value)) {
      diverged(run.checkpoint, epoch, it, "the loss is " + std::to_string(value), last_good_epoch);
    }
    loss.backward();
    if (group) {
      value = average_gradients(parameters, value, *group);
      if (!std::isfinite(value)) {
        diverged(run.checkpoint, epoch, it, "the loss (mean over " + std::to_string(group->world_size()) +
                 " ranks) is " + std::to_string(value), last_good_epoch);
      }
    }
    if (tc.gradient_clip > 0.0) {
      const double norm = torch::nn::utils::clip_grad_norm_(model->parameters(), tc.gradient_clip);
      if (!std::isfinite(norm)) diverged(run.checkpoint, epoch, it, "the gradient norm is not finite", last_good_epoch);
    }
    optimizer.step();
    loss_sum += value;
    if (callbacks.on_iteration) callbacks.on_iteration(epoch, it, iterations, value);
  }
  record.train_seconds = seconds_since(start);
  record.data_wait_seconds = loader.wait_seconds() - wait_before;
  record.train_loss = loss_sum / static_cast<double>(iterations);
  record.world_size = group ? group->world_size() : 1;
  record.patches_per_second =
      static_cast<double>(iterations * tc.batch_size * record.world_size) / record.train_seconds;
  if (group) {
    record.communication_seconds = group->seconds_communicating() - communication_before;
    record.communication_bytes = group->bytes_communicated() - bytes_before;
  }
}

/// Validation Dice per label into the record and the bundle's metrics;
/// model_best is saved when the mean improves.
void validate(const TrainConfig& config, const TrainingData& data, models::UNet3d& model, bool bf16,
              models::BundleInfo& info, CheckpointState& state, EpochRecord& record) {
  record.validation_dice = validation_dice(model, data.validation, data.num_classes, data.patch_size,
                                           config.validation.overlap, bf16);
  double sum = 0.0;
  int n = 0;
  for (double d : record.validation_dice) {
    if (std::isnan(d)) continue;
    sum += d;
    ++n;
  }
  record.mean_validation_dice = n > 0 ? sum / n : 0.0;
  info.provenance.created = core::utc_timestamp();
  info.provenance.metrics = {{"epoch", static_cast<double>(record.epoch)}, {"mean_dice", record.mean_validation_dice}};
  for (std::size_t k = 0; k < record.validation_dice.size(); ++k) {
    info.provenance.metrics["dice/" + info.labels[k + 1].name] = record.validation_dice[k];
  }
  if (record.mean_validation_dice > state.best_mean_dice) {
    record.best = true;
    state.best_mean_dice = record.mean_validation_dice;
    state.best_epoch = record.epoch;
    models::save_bundle(config.output / "model_best", info, model);
  }
}

/// model_last, the epoch's time, the log line, then the checkpoint. Log first, checkpoint
/// second: a kill in between leaves a log line the resumed run drops
/// (truncate_log), never a missing one.
void save_epoch(const TrainConfig& config, const RunFolder& run, models::UNet3d& model,
                torch::optim::Optimizer& optimizer, models::BundleInfo& info, CheckpointState& state,
                Clock::time_point epoch_start, EpochRecord& record) {
  if (info.provenance.created.empty()) info.provenance.created = core::utc_timestamp();
  models::save_bundle(config.output / "model_last", info, model);
  record.seconds = seconds_since(epoch_start);
  {
    std::ofstream out(run.log, std::ios::app);
    out << to_json_line(record) << "\n";
  }
  state.epoch = record.epoch;
  save_checkpoint(run.checkpoint, model, optimizer, state);
}

}  // namespace

TrainResult train(const TrainConfig& config, const TrainOptions& options, const TrainerCallbacks& callbacks) {
  if (config.dataset.max_voxels) set_max_voxels(*config.dataset.max_voxels);
  auto log = [&](const std::string& line) {
    if (callbacks.log) callbacks.log(line);
  };
  const TrainingConfig& tc = config.training;
  // 0 keeps what the caller set (the CLI's --threads, default all cores).
  const int threads = tc.threads > 0 ? models::configure_threads(static_cast<int>(tc.threads)) : at::get_num_threads();
  ProcessGroup* const group = options.group;
  const bool rank0 = group == nullptr || group->rank() == 0;
  // Rank 0 owns the run folder; the others wait until it has checked and
  // written it (and refused to overwrite a run), then read the same paths.
  RunFolder run;
  if (rank0) run = open_run_folder(config, options);
  if (group) {
    group->barrier("waiting for rank 0 to open the run folder");
    if (!rank0) run = run_folder_paths(config);
  }

  TrainingData data = prepare_training_data(config, models::total_stride(config.model.architecture), log);
  const std::int64_t in_channels = data.training.front().image.size(0);
  // "auto" may be measured per process (AVX512_BF16 without AMX,
  // models/precision_measurement.h): the ranks take rank 0's answer.
  models::Precision precision = rank0 ? models::resolve_precision(tc.precision) : models::Precision::kFp32;
  if (group) {
    torch::Tensor choice = torch::tensor({precision == models::Precision::kBf16 ? 1 : 0}, torch::kLong);
    group->broadcast(choice, 0, "agreeing on the precision");
    precision = choice.item<std::int64_t>() == 1 ? models::Precision::kBf16 : models::Precision::kFp32;
  }
  const bool bf16 = precision == models::Precision::kBf16;
  const auto& p = data.patch_size;
  log("patch " + std::to_string(p[0]) + "x" + std::to_string(p[1]) + "x" + std::to_string(p[2]) + ", batch " +
      std::to_string(tc.batch_size) + ", " + std::to_string(threads) + " threads, " + models::to_string(precision) +
      (tc.precision == models::Precision::kAuto ? " (auto), " : ", ") + std::to_string(data.domains.size()) +
      " domain(s)" +
      (group ? ", " + std::to_string(group->world_size()) + " ranks (global batch " +
                   std::to_string(tc.batch_size * group->world_size()) + ", batch norm " +
                   (tc.sync_batch_norm ? "synchronized" : "per rank") + ")"
             : std::string()));

  torch::manual_seed(derive_seed(static_cast<std::uint64_t>(tc.seed), fnv1a("init"), 0));
  models::UNet3d model(unet_options(config.model, in_channels, data.num_classes,
                                    static_cast<std::int64_t>(data.domains.size())));
  model->train();
  auto optimizer = make_optimizer(tc, model);

  CheckpointState state;
  if (options.resume && run.has_checkpoint) {
    state = load_checkpoint(run.checkpoint, model, *optimizer);
    if (rank0) truncate_log(run.log, state.epoch);
    log("resumed after epoch " + std::to_string(state.epoch) + " from " + run.checkpoint.string());
  } else if (options.resume && rank0) {
    core::write_text_file_atomically(run.log, "");
    log("no epoch had completed: starting from the beginning");
  }
  if (group) {
    // Every rank read the same checkpoint (or none): refuse a folder that is
    // not shared. Then rank 0's weights and buffers go to all, so the ranks
    // start identical whatever the file system showed them.
    torch::Tensor epoch = torch::tensor({state.epoch}, torch::kLong);
    group->broadcast(epoch, 0, "checking the resumed epoch");
    if (epoch.item<std::int64_t>() != state.epoch) {
      throw ConfigError("distributed training: rank " + std::to_string(group->rank()) + " resumed after epoch " +
                        std::to_string(state.epoch) + " but rank 0 after epoch " +
                        std::to_string(epoch.item<std::int64_t>()) + ": '" + config.output.string() +
                        "' must be one folder shared by all ranks");
    }
    torch::NoGradGuard no_grad;
    for (auto& t : model->parameters()) group->broadcast(t, 0, "broadcasting rank 0's weights");
    for (auto& t : model->buffers()) group->broadcast(t, 0, "broadcasting rank 0's buffers");
  }
  std::shared_ptr<models::BatchStatsReduction> synced_stats;
  if (group && tc.sync_batch_norm) {
    synced_stats = std::make_shared<ProcessGroupBatchStatsReduction>(*group);
    set_batch_stats_reduction(*model, synced_stats);
  }
  models::BundleInfo info = bundle_info(config, options, data, model, run, state.epoch);

  for (const auto& [key, value] : {std::pair{"precise_bn_batches", tc.precise_bn_batches},
                                    std::pair{"frozen_bn_epochs", tc.frozen_bn_epochs}}) {
    if (value > 0 && data.domains.size() > 1) {
      throw ConfigError(config.file.string() + ": training." + key + ": is implemented for single-domain " +
                        "models only (the dataset has " + std::to_string(data.domains.size()) + " domains)");
    }
  }
  // Frozen statistics are used by training itself, so every rank would have
  // to re-estimate the same ones; not implemented.
  if (tc.frozen_bn_epochs > 0 && group && group->world_size() > 1) {
    throw ConfigError(config.file.string() + ": training.frozen_bn_epochs: not implemented for data-parallel " +
                      "training (" + std::to_string(group->world_size()) + " processes)");
  }
  const PatchSampler sampler(data.training, data.patch_size);
  const Augmenter augmenter(config.augmentation, data.patch_size);
  BatchLoaderOptions lo;
  lo.batch_size = tc.batch_size;
  lo.foreground_fraction = tc.foreground_oversampling;
  lo.seed = static_cast<std::uint64_t>(tc.seed);
  lo.threads = tc.loader_threads;
  lo.prefetch = tc.prefetch;
  lo.rank = group ? group->rank() : 0;
  lo.world_size = group ? group->world_size() : 1;
  lo.domain_per_batch =
      !config.dataset.simulated_scanners.profiles.empty() && config.dataset.simulated_scanners.domain_per_batch;
  BatchLoader loader(sampler, augmenter, lo, state.epoch * tc.iterations_per_epoch);
  const BatchLoaderOptions precise_lo = precise_bn_loader_options(tc);  // the same batches at every validation
  // The first epoch that trains with frozen batch norm.
  const std::int64_t freeze_from = tc.frozen_bn_epochs > 0 ? tc.epochs - tc.frozen_bn_epochs + 1 : tc.epochs + 1;

  // Whether the statistics were re-estimated after the last epoch trained
  // (then the freeze needs no second, identical estimate).
  bool reestimated = false;

  TrainResult result;
  for (std::int64_t epoch = state.epoch + 1; epoch <= tc.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    EpochRecord record;
    record.epoch = epoch;
    record.precision = models::to_string(precision);
    record.learning_rate = learning_rate(tc, epoch - 1);
    if (epoch >= freeze_from) {
      // Re-estimated once, with the weights that will learn to use them; a
      // run resumed later finds them in its checkpoint.
      if (epoch == freeze_from && tc.precise_bn_batches > 0 && !reestimated) {
        recompute_batch_norm_statistics(model, sampler, augmenter, precise_lo, tc.precise_bn_batches, bf16);
      }
      freeze_batch_norm(model);  // validation's model->train() undoes it: again every epoch
    }
    train_epoch(tc, run, model, *optimizer, loader, bf16, state.epoch, group, callbacks, record);
    reestimated = false;
    if (rank0) {
      // Rank 0 validates alone: its batch-norm layers must not wait for peers.
      if (synced_stats) set_batch_stats_reduction(*model, nullptr);
      if (epoch % config.validation.every == 0 || epoch == tc.epochs) {
        if (tc.precise_bn_batches > 0 && epoch < freeze_from) {  // frozen statistics stay as trained with
          const auto start = Clock::now();
          recompute_batch_norm_statistics(model, sampler, augmenter, precise_lo, tc.precise_bn_batches, bf16);
          record.precise_bn_seconds = seconds_since(start);
          reestimated = true;
        }
        validate(config, data, model, bf16, info, state, record);
      }
      save_epoch(config, run, model, *optimizer, info, state, epoch_start, record);
      if (synced_stats) set_batch_stats_reduction(*model, synced_stats);
    } else {
      state.epoch = record.epoch;
      record.seconds = seconds_since(epoch_start);
    }
    // No rank runs ahead of rank 0's checkpoint: a job that stops has all
    // ranks at the same epoch, and the last rank exits only after the last save.
    if (group) group->barrier(("waiting for rank 0 to validate and save epoch " + std::to_string(epoch)).c_str());
    result.epochs.push_back(record);
    if (callbacks.on_epoch) callbacks.on_epoch(record);
  }
  result.best_mean_dice = state.best_mean_dice;
  result.best_epoch = state.best_epoch;
  return result;
}

}  // namespace medseg::pipeline
