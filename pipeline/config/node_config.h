#pragma once
// The configuration of medseg as a DICOM node (pipeline/pacs; `medseg serve`,
// `medseg pacs`): node.yaml parsed into plain structs, every key checked on load
// (unknown key, wrong type, out-of-range value -> ConfigError naming the
// file, the key path and the line). Every key is described in docs/dicom.md.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/infer/segmenter.h"

namespace medseg::pipeline::pacs {

/// A remote DICOM application entity (the PACS we send to or fetch from).
struct RemoteAe {
  std::string ae_title;
  std::string host;
  int port = 0;
  /// Connect with TLS, using node.tls's certificate, key and trusted list.
  bool tls = false;
};

/// Network timeouts, in seconds.
struct Timeouts {
  /// Association negotiation and release (ACSE).
  int association = 30;
  /// Waiting for the next message or the rest of a data set (DIMSE).
  int dimse = 60;
  /// Opening a TCP connection to a remote AE.
  int connect = 10;
};

/// Optional DICOM TLS (DCMTK dcmtls + OpenSSL). Paths are absolute (resolved
/// against the config file's folder on load).
struct TlsConfig {
  bool enabled = false;
  std::filesystem::path certificate;  ///< PEM, our certificate
  std::filesystem::path private_key;  ///< PEM, unencrypted
  /// PEM certificates of the peers we trust (their CA or themselves).
  std::vector<std::filesystem::path> trusted_certificates;
};

/// The Storage SCP's side: who we are and whom we accept.
struct NodeSection {
  std::string ae_title = "MEDSEG";
  /// IPv4 address to listen on (127.0.0.1: this machine only; 0.0.0.0: all).
  std::string bind = "127.0.0.1";
  int port = 11112;
  /// Calling AE titles allowed to associate (exact, case-sensitive); any
  /// other is refused ("calling AE title not recognized").
  std::vector<std::string> accept_calling_ae;
  /// Refuse associations addressed to another called AE title.
  bool check_called_ae = true;
  /// A series is complete when no instance of it arrived for this long.
  double series_complete_seconds = 10.0;
  /// Largest PDU we receive (bytes).
  std::int64_t max_pdu = 65536;
  Timeouts timeouts;
  TlsConfig tls;
};

enum class UnmatchedAction { kDrop, kKeep };

struct QueueSection {
  /// Absolute (resolved against the config file's folder).
  std::filesystem::path folder;
  UnmatchedAction unmatched = UnmatchedAction::kDrop;
  /// Keep a sent case's received images (default: removed once sent; the
  /// case record, report and SEG stay).
  bool keep_images = false;
};

/// Exponential back-off of failed sends: attempt n (1-based) failing waits
/// min(initial * factor^(n-1), max) seconds before attempt n + 1; after
/// `attempts` failed attempts the case fails.
struct RetryPolicy {
  int attempts = 8;
  double initial_seconds = 5.0;
  double factor = 2.0;
  double max_seconds = 300.0;
};

/// Seconds to wait after failed attempt `attempt` (1-based).
double retry_delay_seconds(const RetryPolicy& policy, int attempt);

/// What to segment: a series matches when its Modality is one of
/// `modalities` (empty: any) and the regular expressions (ECMAScript,
/// case-insensitive, searched anywhere in the value; empty: any) match its
/// Body Part Examined and Series Description. The first matching rule wins.
struct Rule {
  std::string name;
  std::vector<std::string> modalities;
  std::string body_part;
  std::string series_description;
  /// Absolute bundle folder.
  std::filesystem::path bundle;
  /// Inference options (precision, domain, overlap, tta, windows per batch,
  /// post-processing); progress is set per case.
  SegmentOptions infer;
  /// "'FILE', key 'rules[i].bundle', line N": where a bundle that does not
  /// load is reported.
  std::string bundle_where;
};

struct NodeConfig {
  std::filesystem::path file;
  NodeSection node;
  QueueSection queue;
  /// Where SEGs are sent (C-STORE); unset: segment only, send nothing.
  std::optional<RemoteAe> destination;
  /// What `medseg pacs fetch` queries and retrieves from (C-FIND, C-GET);
  /// defaults to the destination.
  std::optional<RemoteAe> pacs;
  RetryPolicy retry;
  /// JSON-lines case log (absolute); default QUEUE/cases.jsonl.
  std::filesystem::path log;
  std::vector<Rule> rules;
  /// "'FILE', key 'node.port', line N", for errors found when listening.
  std::string port_where;
};

/// Reads and checks node.yaml. Relative paths are relative to its folder.
/// Throws ConfigError "'FILE', key 'a.b', line N: what".
NodeConfig load_node_config(const std::filesystem::path& file);

/// Checks an AE title: 1-16 characters, printable ASCII, no backslash, not
/// only spaces. Returns the reason it is not one, or empty.
std::string ae_title_problem(const std::string& title);

}  // namespace medseg::pipeline::pacs
