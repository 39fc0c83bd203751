// `medseg make-samples`: rebuilds data_samples/ from Debian packages' data.
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "pipeline/samples/sample_maker.h"

namespace medseg::app {
namespace {

struct SamplesOptions {
  std::string mricron = "/usr/share/mricron/templates";
  std::string invesalius;
  std::string output = "data_samples";
};

int run_samples(const SamplesOptions& o) {
  auto files = pipeline::make_mri_samples(o.mricron, o.output);
  if (!o.invesalius.empty()) {
    auto ct = pipeline::make_ct_samples(o.invesalius, o.output);
    files.insert(files.end(), ct.begin(), ct.end());
  }
  for (const auto& f : files) std::cout << f.path.string() << "  <-  " << f.derivation << "\n";
  return 0;
}

}  // namespace

Command add_samples_command(CLI::App& parent) {
  auto o = std::make_shared<SamplesOptions>();
  CLI::App* cli = parent.add_subcommand(
      "make-samples", "Build the sample volumes from mricron-data and invesalius-examples "
                      "(see scripts/make_samples)");
  cli->add_option("--mricron", o->mricron, "mricron-data templates folder")
      ->check(CLI::ExistingDirectory);
  cli->add_option("--invesalius", o->invesalius,
                  "Folder holding the unpacked Cranium.inv3 project (main.plist)")
      ->check(CLI::ExistingDirectory);
  cli->add_option("--output,-o", o->output, "Output folder");
  return {cli, [o] { return run_samples(*o); }};
}

}  // namespace medseg::app
