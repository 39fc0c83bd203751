// medseg command-line entry point: parse, dispatch, and turn every error into
// one line on stderr plus an exit code (2 = bad input, 1 = failure).
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "app/cli/command.h"
#include "app/version.h"
#include "core/error.h"
#include "core/error_message.h"
#include "models/allocator.h"
#include "models/runtime.h"
#include "pipeline/io/read_limits.h"
#include "pipeline/pacs/network_error.h"
#include "pipeline/train/process_group.h"
#include "pipeline/versions.h"

int main(int argc, char** argv) {
  using namespace medseg;
  // Before any large tensor: freed memory is reused instead of being
  // page-faulted in again, and large tensors fault in 2 MiB at a time
  // (page faults cost several times the convolutions here; see
  // models/allocator.h and docs/performance.md).
  models::reuse_freed_memory();
  models::use_huge_page_tensor_allocator();
  CLI::App cli{"medseg: segmentation of 3D medical images (MRI, CT) on an ordinary CPU"};
  cli.name("medseg");
  cli.require_subcommand(1);
  cli.set_version_flag("--version",
                       std::string("medseg ") + app::kVersion + " (commit " + app::kGitCommit +
                           "; " + pipeline::library_versions() + ")");
  int threads = 0;
  cli.add_option("--threads", threads,
                 "CPU threads for computation (default: all " +
                     std::to_string(models::hardware_threads()) + ")")
      ->check(CLI::NonNegativeNumber);
  std::uint64_t max_voxels = pipeline::kDefaultMaxVoxels;
  cli.add_option("--max-voxels", max_voxels,
                 "largest image any command reads, in voxels; larger headers are refused before "
                 "allocating (default " + std::to_string(pipeline::kDefaultMaxVoxels) + " = 1024^3)")
      ->check(CLI::PositiveNumber);
  double dicom_timeout = pipeline::kDefaultDicomTimeoutSeconds;
  cli.add_option("--dicom-timeout", dicom_timeout,
                 "seconds a DICOM folder listing or series read may take before the (isolated) decoder is "
                 "stopped and the input is an error (default 600)")
      ->check(CLI::PositiveNumber);
  // Global options may also follow the command: medseg info --max-voxels N FILE.
  cli.fallthrough();

  std::vector<app::Command> commands{app::add_info_command(cli), app::add_dataset_command(cli),
                                     app::add_evaluate_command(cli),
                                     app::add_synth_command(cli),
                                     app::add_samples_command(cli),
                                     app::add_system_command(cli),
                                     app::add_train_command(cli),
                                     app::add_infer_command(cli),
                                     app::add_adapt_command(cli),
                                     app::add_merge_shards_command(cli),
                                     app::add_convert_command(cli),
                                     app::add_serve_command(cli),
                                     app::add_pacs_command(cli),
                                     app::add_model_command(cli)};
  try {
    cli.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return cli.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::cerr << "medseg: error: " << e.what() << " (see medseg --help)\n";
    return 2;
  }

  try {
    models::configure_threads(threads);
    pipeline::set_max_voxels(max_voxels);
    pipeline::set_dicom_timeout_seconds(dicom_timeout);
    for (const auto& command : commands) {
      if (command.cli->parsed()) return command.run();
    }
    return 2;
  } catch (const Error& e) {
    std::cerr << "medseg: error: " << core::one_line(e) << "\n";
    return 2;
  } catch (const pipeline::DistributedError& e) {
    std::cerr << "medseg: error: " << core::one_line(e) << "\n";
    return 1;
  } catch (const pipeline::pacs::NetworkError& e) {
    std::cerr << "medseg: error: " << core::one_line(e) << "\n";
    return 1;
  } catch (...) {
    std::cerr << "medseg: internal error: " << core::current_exception_line() << "\n";
    return 1;
  }
}
