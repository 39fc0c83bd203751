#include "pipeline/pacs/pacs_node.h"

#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/pacs/dicom_scu.h"
#include "pipeline/pacs/network_error.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

double rounded(double seconds) { return static_cast<double>(static_cast<long long>(seconds * 1000.0 + 0.5)) / 1000.0; }

LogFields case_fields(const CaseRecord& r) {
  return {{"case", r.id}, {"state", to_string(r.state)}, {"series_uid", r.series_uid}};
}

}  // namespace

PacsNode::PacsNode(NodeConfig config, std::string software_version, std::function<void(const std::string&)> echo)
    : config_(std::move(config)) {
  if (!config_.destination) {
    throw ConfigError("'" + config_.file.string() + "': medseg serve needs a destination (the AE the SEGs go to)");
  }
  processor_ = std::make_unique<CaseProcessor>(config_, std::move(software_version));
  queue_ = std::make_unique<CaseQueue>(config_.queue.folder);
  log_ = std::make_unique<CaseLog>(config_.log);
  if (echo) log_->set_echo(std::move(echo));
  scp_ = std::make_unique<StorageScp>(
      config_.node, queue_->incoming_dir(),
      [this](const fs::path& file, const InstanceHeader& header, const AssociationInfo& association) {
        return store_instance(file, header, association);
      },
      *log_);
  try {
    scp_->open();
  } catch (const NetworkError& e) {
    throw ConfigError(config_.port_where + ": " + e.what());
  }
}

PacsNode::~PacsNode() = default;

std::string PacsNode::store_instance(const fs::path& file, const InstanceHeader& header,
                                     const AssociationInfo& association) {
  try {
    const CaseQueue::Added added = queue_->add_instance(file, header, association.calling_ae);
    if (added.new_case) {
      log_->write("case_received", {{"case", added.case_id},
                                    {"state", "received"},
                                    {"series_uid", header.series_uid},
                                    {"study_uid", header.study_uid},
                                    {"modality", header.series.modality},
                                    {"calling_ae", association.calling_ae}});
    }
    return {};
  } catch (const std::exception& e) {
    return core::one_line(e);
  }
}

void PacsNode::run(const std::atomic<bool>& stop) {
  log_->write("node_started", {{"ae_title", config_.node.ae_title},
                               {"bind", config_.node.bind},
                               {"port", config_.node.port},
                               {"queue", config_.queue.folder.string()},
                               {"destination", describe(*config_.destination)},
                               {"rules", static_cast<std::int64_t>(config_.rules.size())},
                               {"resumed", static_cast<std::int64_t>(queue_->resumed().size())}});
  for (const auto& r : queue_->resumed()) {
    LogFields f = case_fields(r);
    f.emplace_back("attempts", r.attempts);
    log_->write("case_resumed", f);
  }
  std::atomic<bool> stopping{false};
  std::thread scp_thread([this, &stopping] {
    while (!stopping.load()) {
      try {
        scp_->run(stopping);
      } catch (const std::exception& e) {
        log_->write("scp_error", {{"reason", core::one_line(e)}});
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  });
  std::thread worker([this, &stopping] { work(stopping); });

  while (!stop.load()) {
    try {
      for (const auto& r : queue_->adopt_inbox()) {
        LogFields f = case_fields(r);
        f.emplace_back("source", r.source);
        f.emplace_back("instances", r.instances);
        log_->write("case_handed_over", f);
      }
      for (auto& r : queue_->take_complete(config_.node.series_complete_seconds)) complete(std::move(r));
    } catch (const std::exception& e) {
      log_->write("queue_error", {{"reason", core::one_line(e)}});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stopping.store(true);
  wake_.notify_all();
  scp_thread.join();
  worker.join();
  log_->write("node_stopped", {});
}

void PacsNode::complete(CaseRecord r) {
  if (r.instances == 0) {  // created, then killed before its first instance was in place
    log_->write("case_dropped", {{"case", r.id}, {"series_uid", r.series_uid}, {"reason", "no instance"}});
    queue_->remove_case(r.id);
    return;
  }
  const SeriesAttributes series{r.modality, r.body_part, r.series_description};
  const Rule* rule = processor_->match(series);
  if (rule == nullptr) {
    const bool keep = config_.queue.unmatched == UnmatchedAction::kKeep;
    log_->write("case_unmatched", {{"case", r.id},
                                   {"state", keep ? "unmatched" : "dropped"},
                                   {"series_uid", r.series_uid},
                                   {"modality", r.modality},
                                   {"body_part", r.body_part},
                                   {"series_description", r.series_description},
                                   {"instances", r.instances}});
    if (keep) {
      r.state = CaseState::kUnmatched;
      queue_->save(r);
    } else {
      queue_->remove_case(r.id);
    }
    return;
  }
  r.state = CaseState::kQueued;
  r.rule = rule->name;
  r.queued_at = unix_now();
  queue_->save(r);
  LogFields f = case_fields(r);
  f.emplace_back("rule", r.rule);
  f.emplace_back("modality", r.modality);
  f.emplace_back("instances", r.instances);
  f.emplace_back("source", r.source);
  f.emplace_back("last_instance_at", iso_time(r.last_instance_at));
  log_->write("case_queued", f);
  wake_.notify_all();
}

void PacsNode::work(const std::atomic<bool>& stopping) {
  while (!stopping.load()) {
    std::optional<CaseRecord> r;
    try {
      r = queue_->next_ready(unix_now());
    } catch (const std::exception& e) {
      log_->write("queue_error", {{"reason", core::one_line(e)}});
    }
    if (!r) {
      std::unique_lock<std::mutex> lock(wake_mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(250));
      continue;
    }
    try {
      if (r->state == CaseState::kQueued) {
        segment(*r, stopping);
      } else {
        send(*r);
      }
    } catch (const std::exception& e) {
      // The record could not be saved (disk full, ...): the case stays in its
      // state and is tried again.
      log_->write("queue_error", {{"case", r->id}, {"reason", core::one_line(e)}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

void PacsNode::segment(CaseRecord r, const std::atomic<bool>& stopping) {
  const Rule* rule = processor_->rule(r.rule);
  if (rule == nullptr) rule = processor_->match({r.modality, r.body_part, r.series_description});
  if (rule == nullptr) {
    r.state = CaseState::kFailed;
    r.message = "rule '" + r.rule + "' is no longer in " + config_.file.string() + " and no other rule matches";
    queue_->save(r);
    log_->write("case_failed", {{"case", r.id}, {"state", "failed"}, {"stage", "segment"}, {"reason", r.message}});
    return;
  }
  r.rule = rule->name;
  SegmentedSeries s;
  try {
    s = processor_->segment(*rule, queue_->series_dir(r.id), queue_->output_dir(r.id), &stopping);
  } catch (const Cancelled&) {
    log_->write("case_interrupted", {{"case", r.id}, {"state", "queued"}, {"reason", "the node is stopping"}});
    return;
  } catch (const std::exception& e) {
    r.state = CaseState::kFailed;
    r.message = core::one_line(e);
    queue_->save(r);
    log_->write("case_failed", {{"case", r.id}, {"state", "failed"}, {"stage", "segment"}, {"reason", r.message}});
    return;
  }
  r.segmented_at = unix_now();
  LogFields f{{"case", r.id}, {"rule", r.rule}, {"seconds", rounded(s.seconds)}};
  for (const auto& l : s.labels) {
    if (l.value != 0) f.emplace_back(l.name + "_ml", rounded(l.volume_ml));
  }
  if (s.empty) {
    r.state = CaseState::kEmpty;
    r.message = "no label found: there is no SEG to send";
    queue_->save(r);
    f.insert(f.begin() + 1, LogField("state", "empty"));
    log_->write("case_empty", f);
    if (!config_.queue.keep_images) queue_->remove_images(r.id);
    return;
  }
  r.state = CaseState::kSegmented;
  r.seg_file = fs::relative(s.seg_file, queue_->case_dir(r.id)).string();
  r.seg_sop_instance_uid = s.seg_sop_instance_uid;
  r.next_attempt_at = 0;
  queue_->save(r);
  f.insert(f.begin() + 1, LogField("state", "segmented"));
  f.emplace_back("seg_sop_instance_uid", r.seg_sop_instance_uid);
  log_->write("case_segmented", f);
  wake_.notify_all();
}

void PacsNode::send(CaseRecord r) {
  ++r.attempts;
  const auto start = std::chrono::steady_clock::now();
  try {
    processor_->send({queue_->case_dir(r.id) / r.seg_file});
  } catch (const std::exception& e) {
    r.message = core::one_line(e);
    if (r.attempts >= config_.retry.attempts) {
      r.state = CaseState::kFailed;
      queue_->save(r);
      log_->write("case_failed", {{"case", r.id},
                                  {"state", "failed"},
                                  {"stage", "send"},
                                  {"attempts", r.attempts},
                                  {"reason", r.message}});
      return;
    }
    const double delay = retry_delay_seconds(config_.retry, r.attempts);
    r.next_attempt_at = unix_now() + delay;
    queue_->save(r);
    log_->write("case_send_failed", {{"case", r.id},
                                     {"state", "segmented"},
                                     {"attempt", r.attempts},
                                     {"retry_in_s", rounded(delay)},
                                     {"reason", r.message}});
    return;
  }
  const double send_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.state = CaseState::kSent;
  r.sent_at = unix_now();
  r.message.clear();
  queue_->save(r);
  log_->write("case_sent", {{"case", r.id},
                            {"state", "sent"},
                            {"series_uid", r.series_uid},
                            {"destination", describe(*config_.destination)},
                            {"attempt", r.attempts},
                            {"seg_sop_instance_uid", r.seg_sop_instance_uid},
                            {"send_s", rounded(send_seconds)},
                            {"last_instance_at", iso_time(r.last_instance_at)},
                            {"queued_at", iso_time(r.queued_at)},
                            {"segmented_at", iso_time(r.segmented_at)},
                            {"sent_at", iso_time(r.sent_at)},
                            {"completion_wait_s", rounded(r.queued_at - r.last_instance_at)},
                            {"latency_s", rounded(r.sent_at - r.last_instance_at)}});
  if (!config_.queue.keep_images) queue_->remove_images(r.id);
}

}  // namespace medseg::pipeline::pacs
