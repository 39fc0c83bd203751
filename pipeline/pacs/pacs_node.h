#pragma once
// `medseg serve`: the DICOM node. Three threads share the on-disk queue
// (case_queue.h): the Storage SCP stores received instances into the case
// of their series; the caller's thread (run) completes series after their
// quiet period, matches them against the rules and queues them (or drops /
// keeps unmatched ones), and adopts cases handed over by `medseg pacs fetch
// --queue`; a worker segments queued cases one at a time and sends their
// SEGs, retrying failed sends with back-off. Every step is logged
// (case_log.h).
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "pipeline/pacs/case_log.h"
#include "pipeline/pacs/case_processor.h"
#include "pipeline/pacs/case_queue.h"
#include "pipeline/config/node_config.h"
#include "pipeline/pacs/storage_scp.h"

namespace medseg::pipeline::pacs {

class PacsNode {
 public:
  /// Loads every rule's bundle, opens the queue (its lock: one node per
  /// queue) and the log, and listens. Throws ConfigError (a bundle, no
  /// destination), IoError (the queue) or ConfigError naming node.port when
  /// the port cannot be bound.
  PacsNode(NodeConfig config, std::string software_version, std::function<void(const std::string&)> echo);
  ~PacsNode();
  PacsNode(const PacsNode&) = delete;
  PacsNode& operator=(const PacsNode&) = delete;

  /// Serves until `stop` becomes true, then stops the SCP (an open
  /// association is aborted), lets a running segmentation stop at its next
  /// progress step (the case stays queued) or a running send finish, and
  /// returns.
  void run(const std::atomic<bool>& stop);

 private:
  void complete(CaseRecord record);
  void work(const std::atomic<bool>& stopping);
  void segment(CaseRecord record, const std::atomic<bool>& stopping);
  void send(CaseRecord record);
  std::string store_instance(const std::filesystem::path& file, const InstanceHeader& header,
                             const AssociationInfo& association);

  NodeConfig config_;
  std::unique_ptr<CaseProcessor> processor_;
  std::unique_ptr<CaseQueue> queue_;
  std::unique_ptr<CaseLog> log_;
  std::unique_ptr<StorageScp> scp_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
};

}  // namespace medseg::pipeline::pacs
