// `medseg train CONFIG.yaml [--resume] [--set key.path=value ...]`.
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/cli/progress_bar.h"
#include "app/version.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/trainer.h"

namespace medseg::app {
namespace {

struct TrainArgs {
  std::string config;
  bool resume = false;
  std::vector<std::string> overrides;
  bool print_config = false;
};

std::string epoch_line(const pipeline::EpochRecord& r, std::int64_t epochs) {
  char text[256];
  std::snprintf(text, sizeof text, "epoch %lld/%lld  loss %.4f  lr %.5f  %.1f s  %.2f patches/s  data wait %.0f%%",
                static_cast<long long>(r.epoch), static_cast<long long>(epochs), r.train_loss, r.learning_rate,
                r.seconds, r.patches_per_second, 100.0 * r.data_wait_seconds / std::max(r.train_seconds, 1e-9));
  std::string line = text;
  if (!r.validation_dice.empty()) {
    line += "  val Dice";
    for (std::size_t k = 0; k < r.validation_dice.size(); ++k) {
      std::snprintf(text, sizeof text, " %zu:%.3f", k + 1, r.validation_dice[k]);
      line += text;
    }
    std::snprintf(text, sizeof text, " mean %.3f%s", r.mean_validation_dice, r.best ? " (best)" : "");
    line += text;
  }
  return line;
}

int run_train(const TrainArgs& args) {
  const pipeline::TrainConfig config = pipeline::load_train_config(args.config, args.overrides);
  if (args.print_config) {
    std::cout << pipeline::to_yaml(config);
    return 0;
  }
  ProgressBar bar("epoch 1");
  pipeline::TrainerCallbacks callbacks;
  callbacks.log = [&](const std::string& line) {
    bar.clear();
    std::cout << line << std::endl;
  };
  callbacks.on_iteration = [&](std::int64_t epoch, std::int64_t it, std::int64_t iterations, double loss) {
    if (it == 1) bar.restart("epoch " + std::to_string(epoch) + "/" + std::to_string(config.training.epochs));
    char text[32];
    std::snprintf(text, sizeof text, "loss %.4f", loss);
    bar.update(it, iterations, text);
  };
  callbacks.on_epoch = [&](const pipeline::EpochRecord& r) {
    bar.clear();
    std::cout << epoch_line(r, config.training.epochs) << std::endl;
  };
  pipeline::TrainOptions options;
  options.resume = args.resume;
  options.software_version = std::string(kVersion) + " (" + kGitCommit + ")";
  const auto result = pipeline::train(config, options, callbacks);
  bar.clear();
  std::cout << "best mean validation Dice " << result.best_mean_dice << " at epoch " << result.best_epoch
            << "\nbundles: " << (config.output / "model_best").string() << ", "
            << (config.output / "model_last").string() << "\nlog: " << (config.output / "log.jsonl").string()
            << std::endl;
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& parent) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cli = parent.add_subcommand("train", "Train a U-Net from a YAML config (see docs/configuration.md)");
  cli->add_option("config", args->config, "Training config (.yaml)")->required();
  cli->add_flag("--resume", args->resume, "Continue the run in the config's output folder from its checkpoint");
  cli->add_option("--set", args->overrides, "Override a config value: key.path=value (repeatable)");
  cli->add_flag("--print-config", args->print_config, "Print the effective config (all defaults) and exit");
  return {cli, [args] { return run_train(*args); }};
}

}  // namespace medseg::app
