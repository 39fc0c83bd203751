// `medseg merge-shards INPUT... [--output FILE]`: one summary.csv from the
// summary.shard-K-of-N.csv files that `medseg infer --shard` wrote.
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "core/atomic_file.h"
#include "pipeline/infer/shard.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string output;
};

int run_merge(const MergeArgs& a) {
  const std::vector<fs::path> inputs(a.inputs.begin(), a.inputs.end());
  const std::string merged = pipeline::merge_shard_summaries(inputs);
  // Default: summary.csv in the (first) folder that holds the shards.
  fs::path output = a.output;
  if (output.empty()) {
    const fs::path first = inputs.front();
    output = (fs::is_directory(first) ? first : first.parent_path()) / "summary.csv";
  }
  core::write_text_file_atomically(output, merged);
  std::size_t rows = 0;
  for (const char c : merged) rows += c == '\n';
  std::cout << rows - 1 << " cases -> " << output.string() << std::endl;
  return 0;
}

}  // namespace

Command add_merge_shards_command(CLI::App& parent) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* cli = parent.add_subcommand(
      "merge-shards", "Merge the summaries of `medseg infer --shard` runs into one summary.csv");
  cli->add_option("inputs", a->inputs, "summary.shard-K-of-N.csv files, or folders holding them")->required();
  cli->add_option("--output,-o", a->output, "Merged CSV (default: summary.csv beside the first input's shards)");
  return {cli, [a] { return run_merge(*a); }};
}

}  // namespace medseg::app
