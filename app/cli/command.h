#pragma once
// A CLI subcommand: its CLI11 node and the function that runs it once the
// whole command line is parsed (so global options such as --threads apply).
#include <CLI/CLI.hpp>

#include <functional>

namespace medseg::app {

struct Command {
  CLI::App* cli = nullptr;
  /// Returns the process exit code (0 ok, 2 bad input, 1 failure).
  std::function<int()> run;
};

Command add_info_command(CLI::App& parent);
Command add_dataset_command(CLI::App& parent);
Command add_evaluate_command(CLI::App& parent);
Command add_synth_command(CLI::App& parent);
Command add_samples_command(CLI::App& parent);
Command add_system_command(CLI::App& parent);
Command add_model_command(CLI::App& parent);
Command add_train_command(CLI::App& parent);
Command add_infer_command(CLI::App& parent);
Command add_adapt_command(CLI::App& parent);
Command add_merge_shards_command(CLI::App& parent);
Command add_convert_command(CLI::App& parent);
Command add_serve_command(CLI::App& parent);
Command add_pacs_command(CLI::App& parent);

}  // namespace medseg::app
