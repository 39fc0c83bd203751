// `medseg serve --config node.yaml`: medseg as a DICOM node. Receives series
// over DICOM (Storage SCP), segments those a rule of node.yaml matches, and
// sends the DICOM SEGs to the destination AE; stops cleanly on SIGTERM or
// SIGINT (docs/dicom.md).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/version.h"
#include "pipeline/pacs/case_processor.h"
#include "pipeline/pacs/dicom_scu.h"
#include "pipeline/config/node_config.h"
#include "pipeline/pacs/pacs_node.h"

namespace medseg::app {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) { g_stop.store(true); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

struct ServeArgs {
  std::string config;
  bool check = false;
};

int run_serve(const ServeArgs& a) {
  // DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set: every
  // C-STORE then waits for a delayed ACK (about 10x slower per instance here,
  // docs/performance.md). An explicit TCP_NODELAY=0 in the environment wins.
  setenv("TCP_NODELAY", "1", 0);
  const pipeline::pacs::NodeConfig config = pipeline::pacs::load_node_config(a.config);
  const std::string version = std::string(kVersion) + " (" + kGitCommit + ")";
  if (a.check) {
    const pipeline::pacs::CaseProcessor processor(config, version);
    std::cout << a.config << ": ok; AE " << config.node.ae_title << " on " << config.node.bind << ":"
              << config.node.port << ", " << config.rules.size() << " rule(s), queue " << config.queue.folder.string()
              << (config.destination ? ", destination " + pipeline::pacs::describe(*config.destination) : "")
              << std::endl;
    return 0;
  }
  install_stop_handlers();
  pipeline::pacs::PacsNode node(config, version, [](const std::string& line) { std::cout << line << std::endl; });
  std::cout << "medseg serve: AE " << config.node.ae_title << " listening on " << config.node.bind << ":"
            << config.node.port << "; queue " << config.queue.folder.string() << ", log " << config.log.string()
            << "; stop with SIGTERM or Ctrl-C" << std::endl;
  node.run(g_stop);
  std::cout << "medseg serve: stopped" << std::endl;
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& parent) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cli = parent.add_subcommand(
      "serve", "Run as a DICOM node: receive series (C-STORE), segment those a rule matches, send DICOM SEGs to the "
               "destination (docs/dicom.md)");
  cli->add_option("--config,-c", a->config, "Node configuration (node.yaml; see configs/node.yaml)")->required();
  cli->add_flag("--check", a->check, "Check the configuration and load every rule's bundle, then exit");
  return {cli, [a] { return run_serve(*a); }};
}

}  // namespace medseg::app
