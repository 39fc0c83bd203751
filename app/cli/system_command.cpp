// `medseg system`: what this machine gives medseg (threads, libraries).
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/version.h"
#include "models/runtime.h"
#include "pipeline/versions.h"

namespace medseg::app {

Command add_system_command(CLI::App& parent) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cli = parent.add_subcommand("system", "Print threads in use and library versions");
  cli->add_flag("--json", *as_json, "Print JSON");
  return {cli, [as_json] {
            const nlohmann::json j = {{"medseg_version", kVersion},
                                      {"git_commit", kGitCommit},
                                      {"libraries", pipeline::library_versions()},
                                      {"threads", at::get_num_threads()},
                                      {"hardware_threads", models::hardware_threads()}};
            if (*as_json) {
              std::cout << j.dump(2) << "\n";
            } else {
              std::cout << "medseg " << kVersion << " (commit " << kGitCommit << ")\n"
                        << "libraries        " << pipeline::library_versions() << "\n"
                        << "threads          " << at::get_num_threads() << " of "
                        << models::hardware_threads() << " hardware threads\n";
            }
            return 0;
          }};
}

}  // namespace medseg::app
