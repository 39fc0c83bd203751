// `medseg pacs echo|fetch|queue --config node.yaml`: medseg as a DICOM
// client of the PACS in node.yaml, and a look at the node's queue.
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/version.h"
#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/pacs/case_processor.h"
#include "pipeline/pacs/case_queue.h"
#include "pipeline/pacs/dicom_instance.h"
#include "pipeline/pacs/dicom_scu.h"
#include "pipeline/config/node_config.h"
#include "pipeline/pacs/study_fetch.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;
namespace pacs = pipeline::pacs;

struct PacsArgs {
  std::string config;
  // echo
  std::string to = "pacs";
  // fetch
  std::string study;
  std::string accession;
  std::string output;
  bool queue = false;
  bool segment = false;
  bool send = false;
  bool json = false;
};

pacs::ScuOptions scu_options(const pacs::NodeConfig& c, const pacs::RemoteAe& remote) {
  pacs::ScuOptions o;
  o.calling_ae = c.node.ae_title;
  o.remote = remote;
  o.timeouts = c.node.timeouts;
  o.tls = c.node.tls;
  return o;
}

int run_echo(const PacsArgs& a) {
  const pacs::NodeConfig c = pacs::load_node_config(a.config);
  const auto& remote = a.to == "destination" ? c.destination : c.pacs;
  if (!remote) throw ConfigError("'" + a.config + "': no " + a.to + " configured");
  pacs::echo(scu_options(c, *remote));
  std::cout << "C-ECHO " << c.node.ae_title << " -> " << pacs::describe(*remote) << ": ok" << std::endl;
  return 0;
}

int run_fetch(const PacsArgs& a) {
  setenv("TCP_NODELAY", "1", 0);  // see serve_command.cpp
  if (a.segment && a.queue) throw ConfigError("fetch: --segment goes with --output (with --queue, the node segments)");
  if (a.send && !a.segment) throw ConfigError("fetch: --send needs --segment");
  const pacs::NodeConfig c = pacs::load_node_config(a.config);
  std::unique_ptr<pacs::CaseProcessor> processor;
  if (a.segment) {  // bundles are checked before anything is fetched
    processor = std::make_unique<pacs::CaseProcessor>(c, std::string(kVersion) + " (" + kGitCommit + ")");
  }
  pacs::FetchOptions o;
  o.study_uid = a.study;
  o.accession_number = a.accession;
  o.output = a.output;
  o.to_queue = a.queue;
  const pacs::FetchResult r = pacs::fetch_study(c, o);

  nlohmann::ordered_json j;
  j["pacs"] = pacs::describe(*c.pacs);
  nlohmann::ordered_json studies = nlohmann::ordered_json::array();
  for (const auto& s : r.studies) {
    studies.push_back({{"study_uid", s.study_uid},
                       {"accession_number", s.accession_number},
                       {"study_date", s.study_date},
                       {"modalities", s.modalities}});
  }
  j["studies"] = studies;
  j["retrieved"] = r.counts.stored;
  j["refused"] = r.counts.refused;
  j["failed_suboperations"] = r.counts.failed;
  if (!a.json) {
    for (const auto& s : r.studies) {
      std::cout << "study " << s.study_uid << " (accession '" << s.accession_number << "', " << s.study_date << ", "
                << s.modalities << ")" << std::endl;
    }
    std::cout << "retrieved " << r.counts.stored << " instance(s) in " << r.series.size() << " series"
              << (r.counts.refused > 0 ? ", refused " + std::to_string(r.counts.refused) : "")
              << (r.counts.failed > 0 ? ", " + std::to_string(r.counts.failed) + " failed at the PACS" : "")
              << std::endl;
  }
  int failures = 0;
  nlohmann::ordered_json series = nlohmann::ordered_json::array();
  for (const auto& s : r.series) {
    nlohmann::ordered_json js{{"series_uid", s.series_uid},
                              {"modality", s.modality},
                              {"series_description", s.series_description},
                              {"instances", s.instances},
                              {"folder", s.folder.string()}};
    if (!s.case_id.empty()) js["case"] = s.case_id;
    std::string line = "  " + s.folder.string() + ": " + s.modality + " '" + s.series_description + "', " +
                       std::to_string(s.instances) + " instance(s)";
    if (processor) {
      const pacs::Rule* rule =
          processor->match(pipeline::pacs::read_series_attributes(fs::directory_iterator(s.folder)->path()));
      if (rule == nullptr) {
        js["segmentation"] = "no rule matches";
        line += "; no rule matches";
      } else {
        try {
          const pacs::SegmentedSeries seg = processor->segment(*rule, s.folder, a.output, nullptr);
          js["rule"] = rule->name;
          if (seg.empty) {
            js["segmentation"] = "no label found";
            line += "; " + rule->name + ": no label found";
          } else {
            js["seg"] = seg.seg_file.string();
            line += "; " + rule->name + " -> " + seg.seg_file.string();
            if (a.send) {
              processor->send({seg.seg_file});
              js["sent_to"] = pacs::describe(*c.destination);
              line += ", sent to " + pacs::describe(*c.destination);
            }
          }
        } catch (const Error& e) {
          ++failures;
          js["error"] = core::one_line(e);
          line += "; failed: " + core::one_line(e);
        }
      }
    }
    series.push_back(js);
    if (!a.json) std::cout << line << std::endl;
  }
  j["series"] = series;
  if (a.json) std::cout << j.dump(2) << std::endl;
  if (a.queue && !a.json) {
    std::cout << "handed over to the queue " << c.queue.folder.string() << " (medseg serve adopts them)" << std::endl;
  }
  return failures == 0 ? 0 : 2;
}

int run_queue(const PacsArgs& a) {
  const pacs::NodeConfig c = pacs::load_node_config(a.config);
  const auto cases = pacs::list_cases(c.queue.folder);
  if (a.json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& r : cases) list.push_back(nlohmann::ordered_json::parse(pacs::case_record_json(r)));
    std::cout << list.dump(2) << std::endl;
    return 0;
  }
  for (const auto& r : cases) {
    std::cout << r.id << "  " << pacs::to_string(r.state) << "  " << r.modality << "  " << r.instances
              << " instance(s)" << (r.rule.empty() ? "" : "  rule " + r.rule)
              << (r.attempts > 0 ? "  " + std::to_string(r.attempts) + " send attempt(s)" : "")
              << (r.message.empty() ? "" : "  " + r.message) << std::endl;
  }
  std::cout << cases.size() << " case(s) in " << c.queue.folder.string() << std::endl;
  return 0;
}

}  // namespace

Command add_pacs_command(CLI::App& parent) {
  auto a = std::make_shared<PacsArgs>();
  CLI::App* cli = parent.add_subcommand("pacs", "Talk to the PACS of a node.yaml: echo, fetch a study; list the queue");
  cli->require_subcommand(1);
  CLI::App* echo = cli->add_subcommand("echo", "C-ECHO the PACS (or the destination)");
  echo->add_option("--config,-c", a->config, "Node configuration (node.yaml)")->required();
  echo->add_option("--to", a->to, "pacs (default) or destination")->check(CLI::IsMember({"pacs", "destination"}));
  CLI::App* fetch = cli->add_subcommand(
      "fetch", "C-FIND + C-GET a study from the PACS into a folder or the node's queue; optionally segment it");
  fetch->add_option("--config,-c", a->config, "Node configuration (node.yaml)")->required();
  auto* study = fetch->add_option("--study", a->study, "Study Instance UID");
  auto* accession = fetch->add_option("--accession", a->accession, "Accession Number (every matching study)");
  study->excludes(accession);
  auto* output = fetch->add_option("--output,-o", a->output, "Folder for the series (one sub-folder per series)");
  auto* queue = fetch->add_flag("--queue", a->queue, "Hand the series over to the node's queue instead");
  output->excludes(queue);
  fetch->add_flag("--segment", a->segment,
                  "Segment each series a rule matches: OUTPUT/SERIES.dcm (DICOM SEG) and OUTPUT/SERIES.json");
  fetch->add_flag("--send", a->send, "With --segment: send each SEG to the destination");
  fetch->add_flag("--json", a->json, "Print a machine-readable summary");
  CLI::App* queue_cmd = cli->add_subcommand("queue", "List the node's cases and their states");
  queue_cmd->add_option("--config,-c", a->config, "Node configuration (node.yaml)")->required();
  queue_cmd->add_flag("--json", a->json, "Print the case records as JSON");
  return {cli, [a, echo, fetch] {
            if (echo->parsed()) return run_echo(*a);
            if (fetch->parsed()) {
              if (a->study.empty() && a->accession.empty()) throw ConfigError("fetch: give --study UID or --accession NUMBER");
              if (a->output.empty() && !a->queue) throw ConfigError("fetch: give --output DIR or --queue");
              return run_fetch(*a);
            }
            return run_queue(*a);
          }};
}

}  // namespace medseg::app
