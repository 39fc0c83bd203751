#include "pipeline/pacs/storage_scp.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcostrmf.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dul.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/io/detail/dcmtk_util.h"
#include "pipeline/pacs/detail/tls.h"
#include "pipeline/pacs/network_error.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

std::string hex_status(Uint16 status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%04X", static_cast<unsigned>(status));
  return text;
}

// What a remote sent, trimmed, for logs (AE titles are space-padded).
std::string trimmed(const char* text) {
  std::string s(text);
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

/// Per association: what happened, for its summary line.
struct AssociationStats {
  std::int64_t stored = 0;
  std::int64_t refused = 0;
  std::int64_t echoes = 0;
  std::string ended = "released";
};

}  // namespace

struct StorageScp::Impl {
  NodeSection node;
  fs::path incoming;
  InstanceSink sink;
  CaseLog& log;
  int listen_fd = -1;
  T_ASC_Network* net = nullptr;
  std::unique_ptr<detail::TlsLayer> tls;
  unsigned long counter = 0;

  Impl(NodeSection n, fs::path in, InstanceSink s, CaseLog& l)
      : node(std::move(n)), incoming(std::move(in)), sink(std::move(s)), log(l) {}

  ~Impl() {
    if (net != nullptr) ASC_dropNetwork(&net);
    if (listen_fd >= 0) ::close(listen_fd);
  }

  void open() {
    dcmtk::quiet_logging();
    const std::string where = node.bind + ":" + std::to_string(node.port);
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) throw NetworkError("cannot listen on " + where + ": " + std::strerror(errno));
    const int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(node.port));
    if (::inet_pton(AF_INET, node.bind.c_str(), &addr.sin_addr) != 1) {
      throw NetworkError("cannot listen on " + where + ": not an IPv4 address");
    }
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd, 16) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(listen_fd);
      listen_fd = -1;
      throw NetworkError("cannot listen on " + where + ": " + reason);
    }
    // DCMTK binds every address when it opens a listening socket itself; it
    // opens none when it is handed connected sockets (its inetd mode), which
    // is how each connection accepted here reaches it.
    dcmExternalSocketHandle.set(listen_fd);
    const OFCondition c = ASC_initializeNetwork(NET_ACCEPTOR, 0, node.timeouts.association, &net);
    if (c.bad()) throw NetworkError("cannot set up the DICOM network layer: " + std::string(c.text()));
    if (node.tls.enabled) {
      tls = std::make_unique<detail::TlsLayer>(node.tls, /*acceptor=*/true);
      const OFCondition t = ASC_setTransportLayer(net, tls->layer(), 0);
      if (t.bad()) throw NetworkError("cannot set up TLS: " + std::string(t.text()));
    }
  }

  void run(const std::atomic<bool>& stop) {
    while (!stop.load()) {
      pollfd p{listen_fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 250);
      if (ready <= 0 || stop.load()) continue;
      sockaddr_in peer{};
      socklen_t peer_len = sizeof peer;
      const int conn = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
      if (conn < 0) continue;
      char peer_text[INET_ADDRSTRLEN] = "?";
      ::inet_ntop(AF_INET, &peer.sin_addr, peer_text, sizeof peer_text);
      try {
        serve_connection(conn, peer_text, stop);
      } catch (const std::exception& e) {
        log.write("association_failed", {{"peer", std::string(peer_text)}, {"reason", core::one_line(e)}});
      } catch (...) {
        log.write("association_failed", {{"peer", std::string(peer_text)}, {"reason", "unknown error"}});
      }
      // Whatever DCMTK did with its copy, the connection ends here.
      ::shutdown(conn, SHUT_RDWR);
      ::close(conn);
    }
  }

  void reject(T_ASC_Association* assoc, T_ASC_RejectParametersReason reason) {
    T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, reason};
    ASC_rejectAssociation(assoc, &rej);
  }

  void serve_connection(int conn, const std::string& peer, const std::atomic<bool>& stop) {
    const int one = 1;
    ::setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int dcmtk_fd = ::dup(conn);
    if (dcmtk_fd < 0) throw NetworkError(std::string("dup: ") + std::strerror(errno));
    dcmExternalSocketHandle.set(dcmtk_fd);
    T_ASC_Association* assoc = nullptr;
    OFCondition c = ASC_receiveAssociation(net, &assoc, node.max_pdu, nullptr, nullptr,
                                           node.tls.enabled ? OFTrue : OFFalse, DUL_BLOCK, node.timeouts.association);
    const auto cleanup = [&assoc] {
      if (assoc != nullptr) {
        ASC_dropSCPAssociation(assoc);
        ASC_destroyAssociation(&assoc);
      }
    };
    if (c.bad()) {
      log.write("association_failed", {{"peer", peer}, {"reason", std::string("no association request: ") + c.text()}});
      cleanup();
      return;
    }
    AssociationInfo info;
    info.calling_ae = trimmed(assoc->params->DULparams.callingAPTitle);
    info.called_ae = trimmed(assoc->params->DULparams.calledAPTitle);
    info.peer = peer;
    const auto& accepted = node.accept_calling_ae;
    if (std::find(accepted.begin(), accepted.end(), info.calling_ae) == accepted.end()) {
      reject(assoc, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
      log.write("association_refused", {{"calling_ae", info.calling_ae},
                                        {"called_ae", info.called_ae},
                                        {"peer", peer},
                                        {"reason", "calling AE title is not in node.accept_calling_ae"}});
      cleanup();
      return;
    }
    if (node.check_called_ae && info.called_ae != node.ae_title) {
      reject(assoc, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
      log.write("association_refused", {{"calling_ae", info.calling_ae},
                                        {"called_ae", info.called_ae},
                                        {"peer", peer},
                                        {"reason", "called AE title is not node.ae_title '" + node.ae_title + "'"}});
      cleanup();
      return;
    }
    const char* syntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
    const char* verification[] = {UID_VerificationSOPClass};
    ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, verification, 1, syntaxes, 2);
    ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, dcmAllStorageSOPClassUIDs,
                                                    numberOfDcmAllStorageSOPClassUIDs, syntaxes, 2);
    ASC_setAPTitles(assoc->params, nullptr, nullptr, node.ae_title.c_str());
    if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
      reject(assoc, ASC_REASON_SU_NOREASON);
      log.write("association_refused",
                {{"calling_ae", info.calling_ae},
                 {"peer", peer},
                 {"reason", "no presentation context we accept (storage or verification, uncompressed little "
                            "endian)"}});
      cleanup();
      return;
    }
    c = ASC_acknowledgeAssociation(assoc);
    if (c.bad()) {
      log.write("association_failed", {{"calling_ae", info.calling_ae}, {"peer", peer}, {"reason", c.text()}});
      cleanup();
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    AssociationStats stats;
    serve_messages(assoc, info, stop, stats);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log.write("association", {{"calling_ae", info.calling_ae},
                              {"peer", peer},
                              {"stored", stats.stored},
                              {"refused", stats.refused},
                              {"echoes", stats.echoes},
                              {"ended", stats.ended},
                              {"seconds", seconds}});
    cleanup();
  }

  void serve_messages(T_ASC_Association* assoc, const AssociationInfo& info, const std::atomic<bool>& stop,
                      AssociationStats& stats) {
    int idle = 0;
    while (true) {
      if (stop.load()) {
        ASC_abortAssociation(assoc);
        stats.ended = "aborted: the node is stopping";
        return;
      }
      T_ASC_PresentationContextID pres_id = 0;
      T_DIMSE_Message msg{};
      OFCondition c = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres_id, &msg, nullptr);
      if (c == DIMSE_NODATAAVAILABLE) {
        if (++idle >= node.timeouts.dimse) {
          ASC_abortAssociation(assoc);
          stats.ended = "aborted: no message for node.timeouts.dimse_seconds";
          return;
        }
        continue;
      }
      idle = 0;
      if (c == DUL_PEERREQUESTEDRELEASE) {
        ASC_acknowledgeRelease(assoc);
        return;
      }
      if (c == DUL_PEERABORTEDASSOCIATION) {
        stats.ended = "aborted by the peer";
        return;
      }
      if (c.bad()) {
        ASC_abortAssociation(assoc);
        stats.ended = std::string("aborted: ") + c.text();
        return;
      }
      switch (msg.CommandField) {
        case DIMSE_C_ECHO_RQ:
          DIMSE_sendEchoResponse(assoc, pres_id, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
          ++stats.echoes;
          break;
        case DIMSE_C_STORE_RQ:
          if (!handle_store(assoc, pres_id, msg.msg.CStoreRQ, info, stats)) {
            ASC_abortAssociation(assoc);
            return;
          }
          break;
        default:
          ASC_abortAssociation(assoc);
          stats.ended = "aborted: unsupported DIMSE command " + hex_status(msg.CommandField);
          return;
      }
    }
  }

  // Receives one instance into a temporary file, checks it, hands it to the
  // sink and answers. Returns false when the association cannot go on (the
  // data set did not arrive whole).
  bool handle_store(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id, T_DIMSE_C_StoreRQ& req,
                    const AssociationInfo& info, AssociationStats& stats) {
    const fs::path temp = incoming / (".received-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dcm");
    Uint16 status = STATUS_Success;
    std::string reason;
    DcmOutputFileStream* stream = nullptr;
    OFCondition c = DIMSE_createFilestream(temp.c_str(), &req, assoc, pres_id, OFTrue, &stream);
    if (c.bad()) {
      status = STATUS_STORE_Refused_OutOfResources;
      reason = std::string("cannot create a file in the queue's incoming folder: ") + c.text();
      DIC_UL bytes = 0, pdvs = 0;
      c = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, node.timeouts.dimse, &bytes, &pdvs);
      if (c.bad()) {
        log_refused(info, req, "", std::string("data set not received: ") + c.text());
        ++stats.refused;
        stats.ended = "aborted: data set not received";
        return false;
      }
    } else {
      c = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, node.timeouts.dimse, &pres_id, stream, nullptr, nullptr);
      delete stream;
      if (c.bad()) {
        std::error_code ec;
        fs::remove(temp, ec);
        log_refused(info, req, "", std::string("data set not received whole: ") + c.text());
        ++stats.refused;
        stats.ended = std::string("aborted: data set not received whole (") + c.text() + ")";
        return false;
      }
      try {
        const InstanceHeader header = read_received_instance(temp);
        if (header.sop_instance_uid != trimmed(req.AffectedSOPInstanceUID)) {
          status = STATUS_STORE_Error_DataSetDoesNotMatchSOPClass;
          reason = "the data set's SOP Instance UID differs from the C-STORE request's";
        } else if (header.sop_class_uid != trimmed(req.AffectedSOPClassUID)) {
          status = STATUS_STORE_Error_DataSetDoesNotMatchSOPClass;
          reason = "the data set's SOP Class UID differs from the C-STORE request's";
        } else {
          reason = sink(temp, header, info);
          if (!reason.empty()) status = STATUS_STORE_Refused_OutOfResources;
        }
      } catch (const std::exception& e) {
        status = STATUS_STORE_Error_CannotUnderstand;
        reason = core::one_line(e);
      }
      if (status != STATUS_Success) {
        std::error_code ec;
        fs::remove(temp, ec);
      }
    }
    if (status == STATUS_Success) {
      ++stats.stored;
    } else {
      ++stats.refused;
      log_refused(info, req, hex_status(status), reason);
    }
    T_DIMSE_C_StoreRSP rsp{};
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID, sizeof rsp.AffectedSOPInstanceUID);
    rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    DcmDataset detail;
    if (status != STATUS_Success) detail.putAndInsertString(DCM_ErrorComment, reason.substr(0, 64).c_str());
    c = DIMSE_sendStoreResponse(assoc, pres_id, &req, &rsp, status != STATUS_Success ? &detail : nullptr);
    if (c.bad()) {
      stats.ended = std::string("aborted: cannot send the C-STORE response: ") + c.text();
      return false;
    }
    return true;
  }

  void log_refused(const AssociationInfo& info, const T_DIMSE_C_StoreRQ& req, const std::string& status,
                   const std::string& reason) {
    LogFields fields{{"calling_ae", info.calling_ae},
                     {"peer", info.peer},
                     {"sop_instance_uid", trimmed(req.AffectedSOPInstanceUID)},
                     {"reason", reason}};
    if (!status.empty()) fields.emplace_back("status", status);
    log.write("instance_refused", fields);
  }
};

StorageScp::StorageScp(NodeSection node, fs::path incoming, InstanceSink sink, CaseLog& log)
    : impl_(std::make_unique<Impl>(std::move(node), std::move(incoming), std::move(sink), log)) {}

StorageScp::~StorageScp() = default;

void StorageScp::open() { impl_->open(); }

void StorageScp::run(const std::atomic<bool>& stop) { impl_->run(stop); }

}  // namespace medseg::pipeline::pacs
