#include "pipeline/config/node_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "core/enum_names.h"
#include "core/error.h"
#include "core/yaml_fields.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;
using core::Fields;

namespace {

constexpr core::EnumNames<UnmatchedAction, 2> kUnmatched{
    "unmatched action", {{{UnmatchedAction::kDrop, "drop"}, {UnmatchedAction::kKeep, "keep"}}}};

fs::path resolve(const fs::path& base, const std::string& text) {
  const fs::path p(text);
  return (p.is_absolute() ? p : base / p).lexically_normal();
}

std::string ae_title(const Fields& f, const std::string& key, const std::string& fallback) {
  const std::string title = f.get_string(key, fallback);
  const std::string problem = ae_title_problem(title);
  if (!problem.empty()) f.fail(key, problem);
  return title;
}

int port(const Fields& f, const std::string& key, std::int64_t fallback) {
  return static_cast<int>(f.get_int(key, fallback, 1, 65535));
}

std::string host(const Fields& f, const std::string& key, const std::string& fallback) {
  const std::string h = f.get_string(key, fallback);
  if (h.empty() || h.find_first_of(" \t\n/\\") != std::string::npos) f.fail(key, "expected a host name or address");
  return h;
}

RemoteAe read_remote(const Fields& f, const TlsConfig& tls) {
  f.allow_only({"ae_title", "host", "port", "tls"});
  f.require({"ae_title", "host", "port"});
  RemoteAe r;
  r.ae_title = ae_title(f, "ae_title", "");
  r.host = host(f, "host", "");
  r.port = port(f, "port", 0);
  r.tls = f.get_bool("tls", false);
  if (r.tls && !tls.enabled) f.fail("tls", "needs node.tls (our certificate, key and the trusted certificates)");
  return r;
}

TlsConfig read_tls(const Fields& f, const fs::path& base) {
  TlsConfig t;
  if (!f.node().IsDefined() || f.node().IsNull()) return t;
  f.allow_only({"enabled", "certificate", "private_key", "trusted_certificates"});
  t.enabled = f.get_bool("enabled", true);
  if (!t.enabled) return t;
  f.require({"certificate", "private_key", "trusted_certificates"});
  const auto file = [&](const std::string& key, const std::string& text) {
    const fs::path p = resolve(base, text);
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) f.fail(key, "no such file '" + p.string() + "'");
    return p;
  };
  t.certificate = file("certificate", f.get_string("certificate", ""));
  t.private_key = file("private_key", f.get_string("private_key", ""));
  for (const auto& s : f.get_strings("trusted_certificates")) {
    t.trusted_certificates.push_back(file("trusted_certificates", s));
  }
  if (t.trusted_certificates.empty()) f.fail("trusted_certificates", "expected at least one certificate");
  return t;
}

void read_infer(const Fields& f, SegmentOptions& o) {
  f.allow_only({"precision", "domain", "overlap", "tta", "windows_per_batch", "keep_largest", "min_island_ml",
                "run_every_window"});
  o.precision = f.get_parsed("precision", Precision::kAuto, [](const std::string& s) { return parse_precision(s); });
  o.domain = f.get_string("domain", "");
  o.overlap = f.get_double("overlap", 0.5, 0.0, 0.99);
  o.mirror = f.get_bool("tta", false);
  o.windows_per_batch = f.get_int("windows_per_batch", 2, 1, 1024);
  o.keep_largest_component = f.get_bool("keep_largest", false);
  o.min_island_ml = f.get_double("min_island_ml", 0.0, 0.0, 1e9);
  o.skip_empty_windows = !f.get_bool("run_every_window", false);
}

void check_regex(const Fields& f, const std::string& key, const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    f.fail(key, "invalid regular expression '" + pattern + "' (" + e.what() + ")");
  }
}

Rule read_rule(const Fields& f, const fs::path& base) {
  f.allow_only({"name", "modality", "body_part", "series_description", "bundle", "infer"});
  f.require({"name", "bundle"});
  Rule r;
  r.name = f.get_string("name", "");
  if (r.name.empty()) f.fail("name", "must not be empty");
  r.modalities = f.get_strings("modality");
  for (auto& m : r.modalities) {
    if (m.empty() || m.size() > 16) f.fail("modality", "expected modality codes such as CT or MR");
  }
  r.body_part = f.get_string("body_part", "");
  check_regex(f, "body_part", r.body_part);
  r.series_description = f.get_string("series_description", "");
  check_regex(f, "series_description", r.series_description);
  r.bundle = resolve(base, f.get_string("bundle", ""));
  r.bundle_where = f.where("bundle");
  read_infer(f.section("infer"), r.infer);
  return r;
}

}  // namespace

double retry_delay_seconds(const RetryPolicy& policy, int attempt) {
  const double d = policy.initial_seconds * std::pow(policy.factor, std::max(0, attempt - 1));
  return std::min(d, policy.max_seconds);
}

std::string ae_title_problem(const std::string& title) {
  if (title.empty()) return "an AE title must not be empty";
  if (title.size() > 16) return "AE title '" + title + "' is longer than 16 characters";
  for (const unsigned char c : title) {
    if (c < 0x20 || c > 0x7e || c == '\\') return "AE title '" + title + "' holds a character DICOM does not allow";
  }
  if (title.find_first_not_of(' ') == std::string::npos) return "an AE title must not be only spaces";
  return {};
}

NodeConfig load_node_config(const fs::path& file) {
  const YAML::Node root = core::load_yaml_file(file);
  const Fields top(root, file.string(), "");
  if (!root.IsMap()) top.fail("", "expected a mapping of sections (node, queue, destination, rules, ...)");
  top.allow_only({"node", "queue", "destination", "pacs", "retry", "log", "rules"});
  top.require({"node", "queue", "rules"});
  const fs::path base = fs::absolute(file).parent_path();

  NodeConfig c;
  c.file = file;
  const Fields n = top.section("node");
  n.allow_only({"ae_title", "bind", "port", "accept_calling_ae", "check_called_ae", "series_complete_seconds",
                "max_pdu", "timeouts", "tls"});
  n.require({"ae_title", "port", "accept_calling_ae"});
  c.node.ae_title = ae_title(n, "ae_title", "MEDSEG");
  c.node.bind = n.get_string("bind", "127.0.0.1");
  in_addr addr{};
  if (inet_pton(AF_INET, c.node.bind.c_str(), &addr) != 1) {
    n.fail("bind", "expected an IPv4 address such as 127.0.0.1 or 0.0.0.0");
  }
  c.node.port = port(n, "port", 11112);
  c.port_where = n.where("port");
  c.node.accept_calling_ae = n.get_strings("accept_calling_ae");
  if (c.node.accept_calling_ae.empty()) {
    n.fail("accept_calling_ae", "list at least one calling AE title (a node that accepts anyone is not offered)");
  }
  for (const auto& t : c.node.accept_calling_ae) {
    const std::string problem = ae_title_problem(t);
    if (!problem.empty()) n.fail("accept_calling_ae", problem);
  }
  c.node.check_called_ae = n.get_bool("check_called_ae", true);
  c.node.series_complete_seconds = n.get_double("series_complete_seconds", 10.0, 0.1, 86400.0);
  c.node.max_pdu = n.get_int("max_pdu", 65536, 4096, 131072);
  const Fields t = n.section("timeouts");
  t.allow_only({"association_seconds", "dimse_seconds", "connect_seconds"});
  c.node.timeouts.association = static_cast<int>(t.get_int("association_seconds", 30, 1, 3600));
  c.node.timeouts.dimse = static_cast<int>(t.get_int("dimse_seconds", 60, 1, 3600));
  c.node.timeouts.connect = static_cast<int>(t.get_int("connect_seconds", 10, 1, 3600));
  c.node.tls = read_tls(n.section("tls"), base);

  const Fields q = top.section("queue");
  q.allow_only({"folder", "unmatched", "keep_images"});
  q.require({"folder"});
  const std::string folder = q.get_string("folder", "");
  if (folder.empty()) q.fail("folder", "must not be empty");
  c.queue.folder = resolve(base, folder);
  c.queue.unmatched =
      q.get_parsed("unmatched", UnmatchedAction::kDrop, [](const std::string& s) { return kUnmatched.parse(s); });
  c.queue.keep_images = q.get_bool("keep_images", false);

  if (top.has("destination")) c.destination = read_remote(top.section("destination"), c.node.tls);
  if (top.has("pacs")) {
    c.pacs = read_remote(top.section("pacs"), c.node.tls);
  } else {
    c.pacs = c.destination;
  }

  const Fields r = top.section("retry");
  r.allow_only({"attempts", "initial_seconds", "factor", "max_seconds"});
  c.retry.attempts = static_cast<int>(r.get_int("attempts", 8, 1, 1000));
  c.retry.initial_seconds = r.get_double("initial_seconds", 5.0, 0.0, 86400.0);
  c.retry.factor = r.get_double("factor", 2.0, 1.0, 100.0);
  c.retry.max_seconds = r.get_double("max_seconds", 300.0, 0.0, 7 * 86400.0);
  if (c.retry.max_seconds < c.retry.initial_seconds) {
    r.fail("max_seconds", "must be at least initial_seconds (" + std::to_string(c.retry.initial_seconds) + ")");
  }

  c.log = top.has("log") ? resolve(base, top.get_string("log", "")) : c.queue.folder / "cases.jsonl";

  const YAML::Node rules = root["rules"];
  if (!rules.IsSequence()) top.fail("rules", "expected a list of rules");
  if (rules.size() == 0) top.fail("rules", "list at least one rule");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Fields item(rules[i], file.string(), "rules[" + std::to_string(i) + "]");
    if (!rules[i].IsMap()) item.fail("", "expected a mapping (name, modality, bundle, ...)");
    Rule rule = read_rule(item, base);
    for (const auto& other : c.rules) {
      if (other.name == rule.name) item.fail("name", "rule name '" + rule.name + "' is used twice");
    }
    c.rules.push_back(std::move(rule));
  }
  return c;
}

}  // namespace medseg::pipeline::pacs
