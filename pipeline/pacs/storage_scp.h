#pragma once
// The node's DICOM Storage SCP (C-STORE and C-ECHO; DCMTK dcmnet's
// association and DIMSE layer, in storage_scp.cpp only). It listens on its
// own socket, bound to the configured address, and serves one association at
// a time: an association from a calling AE title that is not listed is
// refused; every received instance is checked (dicom_instance.h) and handed
// to a sink that stores it, and only then answered with success. A peer's
// fault (a refused association, an aborted transfer, a malformed instance, a
// timeout) is logged and never stops the SCP.
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "pipeline/pacs/case_log.h"
#include "pipeline/pacs/dicom_instance.h"
#include "pipeline/config/node_config.h"

namespace medseg::pipeline::pacs {

struct AssociationInfo {
  std::string calling_ae;
  std::string called_ae;
  /// The peer's IP address.
  std::string peer;
};

/// Stores a received, checked instance: `file` is a temporary in the
/// incoming folder that the sink moves away. Returns empty when stored, else
/// the reason it could not be (the instance is then refused with "out of
/// resources" and the temporary removed).
using InstanceSink =
    std::function<std::string(const std::filesystem::path& file, const InstanceHeader& header,
                              const AssociationInfo& association)>;

class StorageScp {
 public:
  /// `incoming`: where instances are written while received (same file
  /// system as where the sink moves them).
  StorageScp(NodeSection node, std::filesystem::path incoming, InstanceSink sink, CaseLog& log);
  ~StorageScp();
  StorageScp(const StorageScp&) = delete;
  StorageScp& operator=(const StorageScp&) = delete;

  /// Binds node.bind:node.port and listens. Throws NetworkError "cannot
  /// listen on ADDRESS:PORT: REASON".
  void open();
  /// Serves associations until `stop` becomes true (looked at every 0.25 s
  /// while waiting for a connection, between messages of an association,
  /// which is then aborted, and when an instance has been answered).
  void run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medseg::pipeline::pacs
