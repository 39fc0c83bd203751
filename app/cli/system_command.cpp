// `medseg system`: what this machine gives medseg (threads, libraries).
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/version.h"
#include "models/cpu_features.h"
#include "models/precision.h"
#include "models/runtime.h"
#include "pipeline/versions.h"

namespace medseg::app {

Command add_system_command(CLI::App& parent) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cli = parent.add_subcommand("system", "Print threads in use, library versions, the CPU's ISA and the precision auto picks");
  cli->add_flag("--json", *as_json, "Print JSON");
  return {cli, [as_json] {
            const models::CpuFeatures& cpu = models::cpu_features();
            const std::string auto_precision =
                models::to_string(models::resolve_precision(models::Precision::kAuto, cpu));
            const nlohmann::json j = {{"medseg_version", kVersion},
                                      {"git_commit", kGitCommit},
                                      {"libraries", pipeline::library_versions()},
                                      {"threads", at::get_num_threads()},
                                      {"hardware_threads", models::hardware_threads()},
                                      {"cpu",
                                       {{"model", cpu.model_name},
                                        {"avx2", cpu.avx2},
                                        {"fma", cpu.fma},
                                        {"avx512f", cpu.avx512f},
                                        {"avx512_bf16", cpu.avx512_bf16},
                                        {"amx_bf16", cpu.amx_bf16},
                                        {"onednn_isa_cap", cpu.onednn_isa_cap},
                                        {"native_bf16", cpu.native_bf16()}}},
                                      {"auto_precision", auto_precision}};
            if (*as_json) {
              std::cout << j.dump(2) << "\n";
            } else {
              std::cout << "medseg " << kVersion << " (commit " << kGitCommit << ")\n"
                        << "libraries        " << pipeline::library_versions() << "\n"
                        << "threads          " << at::get_num_threads() << " of "
                        << models::hardware_threads() << " hardware threads\n"
                        << "cpu              " << (cpu.model_name.empty() ? "unknown" : cpu.model_name) << "\n"
                        << "isa              " << cpu.isa_summary() << "\n"
                        << "precision auto   " << auto_precision
                        << (cpu.native_bf16() ? " (native bf16)" : " (no native bf16: bf16 would be emulated)")
                        << "\n";
            }
            return 0;
          }};
}

}  // namespace medseg::app
