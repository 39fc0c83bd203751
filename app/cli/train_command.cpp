// `medseg train CONFIG.yaml [--resume] [--set key.path=value ...]
//  [--dist-url tcp://HOST:PORT --rank R --world-size W] [--dist-timeout S]`.
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/cli/progress_bar.h"
#include "app/version.h"
#include "models/runtime.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/launch_environment.h"
#include "pipeline/train/process_group.h"
#include "pipeline/train/trainer.h"

namespace medseg::app {
namespace {

struct TrainArgs {
  std::string config;
  bool resume = false;
  std::vector<std::string> overrides;
  bool print_config = false;
  pipeline::LaunchFlags launch;
  const CLI::Option* threads_option = nullptr;  ///< the global --threads
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
  const auto env = pipeline::process_environment();
  const auto launch = pipeline::launch_options(args.launch, env);
  if (launch && config.training.threads == 0 && args.threads_option->count() == 0) {
    // Ranks sharing a machine share its cores (torchrun sets OMP_NUM_THREADS=1).
    if (const int n = pipeline::threads_per_rank(env, models::hardware_threads()); n > 0) {
      models::configure_threads(n);
    }
  }
  std::unique_ptr<pipeline::ProcessGroup> group;
  if (launch) group = std::make_unique<pipeline::ProcessGroup>(*launch);
  pipeline::TrainOptions options;
  options.resume = args.resume;
  options.software_version = std::string(kVersion) + " (" + kGitCommit + ")";
  options.group = group.get();
  if (group && group->rank() != 0) {
    // Rank 0 reports for the job; the others speak only to fail.
    pipeline::train(config, options);
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
  cli->add_option("--dist-url", args->launch.dist_url,
                  "Data-parallel training: where rank 0 hosts the rendezvous, tcp://HOST:PORT (default: "
                  "MASTER_ADDR/MASTER_PORT; see docs/distributed.md)");
  cli->add_option("--rank", args->launch.rank, "This process's rank (default: RANK, OMPI_COMM_WORLD_RANK, "
                  "PMI_RANK or SLURM_PROCID)")->check(CLI::NonNegativeNumber);
  cli->add_option("--world-size", args->launch.world_size, "Number of processes (default: WORLD_SIZE, "
                  "OMPI_COMM_WORLD_SIZE, PMI_SIZE or SLURM_NTASKS)")->check(CLI::PositiveNumber);
  cli->add_option("--dist-timeout", args->launch.timeout_seconds,
                  "Seconds a rank waits for its peers (joining, each all-reduce, rank 0's validation and "
                  "saving) before it stops with an error")->capture_default_str()->check(CLI::PositiveNumber);
  args->threads_option = parent.get_option("--threads");
  return {cli, [args] { return run_train(*args); }};
}

}  // namespace medseg::app
