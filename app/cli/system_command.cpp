// `medseg system`: what this machine gives medseg (threads, libraries).
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "app/cli/command.h"
#include "app/version.h"
#include "models/cpu_features.h"
#include "models/precision.h"
#include "models/precision_measurement.h"
#include "models/runtime.h"
#include "pipeline/versions.h"

namespace medseg::app {

Command add_system_command(CLI::App& parent) {
  auto as_json = std::make_shared<bool>(false);
  auto measure_again = std::make_shared<bool>(false);
  CLI::App* cli = parent.add_subcommand("system", "Print threads in use, library versions, the CPU's ISA and the precision auto picks");
  cli->add_flag("--json", *as_json, "Print JSON");
  cli->add_flag("--measure-precision", *measure_again,
                "On a CPU where auto measures (AVX512_BF16 without AMX): time fp32 and bf16 again and update the "
                "cache (e.g. after a first measurement under load)");
  return {cli, [as_json, measure_again] {
            const models::CpuFeatures& cpu = models::cpu_features();
            const models::AutoPrecisionRule rule = models::auto_precision_rule(cpu);
            models::MeasuredPrecision measured;
            if (rule == models::AutoPrecisionRule::kMeasured) measured = models::measured_precision(cpu, *measure_again);
            const std::string auto_precision =
                models::to_string(models::resolve_precision(models::Precision::kAuto, cpu, measured.precision));
            std::ostringstream why;
            why << models::describe(rule);
            nlohmann::json measurement = nullptr;
            if (rule == models::AutoPrecisionRule::kMeasured) {
              why << " bf16 " << std::fixed << std::setprecision(3) << measured.timings.bf16_seconds << " s vs fp32 "
                  << measured.timings.fp32_seconds << " s per pass"
                  << (measured.from_cache ? ", cached in " : ", stored in ") << measured.cache_file.string();
              measurement = {{"fp32_seconds", measured.timings.fp32_seconds},
                             {"bf16_seconds", measured.timings.bf16_seconds},
                             {"from_cache", measured.from_cache},
                             {"cache_file", measured.cache_file.string()}};
            } else if (rule == models::AutoPrecisionRule::kNoNativeBf16) {
              why << ": bf16 would be emulated";
            }
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
                                        {"signature", cpu.signature},
                                        {"avx512_bf16", cpu.avx512_bf16},
                                        {"amx_bf16", cpu.amx_bf16},
                                        {"onednn_isa_cap", cpu.onednn_isa_cap},
                                        {"native_bf16", cpu.native_bf16()}}},
                                      {"auto_precision", auto_precision},
                                      {"auto_precision_rule", models::describe(rule)},
                                      {"auto_precision_measurement", measurement}};
            if (*as_json) {
              std::cout << j.dump(2) << "\n";
            } else {
              std::cout << "medseg " << kVersion << " (commit " << kGitCommit << ")\n"
                        << "libraries        " << pipeline::library_versions() << "\n"
                        << "threads          " << at::get_num_threads() << " of "
                        << models::hardware_threads() << " hardware threads\n"
                        << "cpu              " << (cpu.model_name.empty() ? "unknown" : cpu.model_name)
                        << (cpu.signature.empty() ? "" : " (" + cpu.signature + ")") << "\n"
                        << "isa              " << cpu.isa_summary() << "\n"
                        << "precision auto   " << auto_precision << " (" << why.str() << ")\n";
            }
            return 0;
          }};
}

}  // namespace medseg::app
