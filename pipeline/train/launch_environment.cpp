#include "pipeline/train/launch_environment.h"

#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace medseg::pipeline {

namespace {

int parse_int(const std::string& text, const std::string& source, int lo, int hi) {
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < lo || value > hi) {
    throw ConfigError("distributed training: " + source + " is '" + text + "', expected a whole number in " +
                      std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int>(value);
}

std::optional<std::string> get(const EnvironmentLookup& env, const char* name) {
  const char* value = env(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

struct RankSource {
  const char* rank;
  const char* size;
};

// torchrun first: it also exports LOCAL_RANK etc., and mpirun/srun
// wrapping torchrun must not win over the ranks torchrun assigns.
constexpr RankSource kSources[] = {{"RANK", "WORLD_SIZE"},
                                   {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                   {"PMI_RANK", "PMI_SIZE"},
                                   {"SLURM_PROCID", "SLURM_NTASKS"}};

void parse_url(const std::string& url, ProcessGroupOptions& o) {
  const std::string scheme = "tcp://";
  const auto colon = url.rfind(':');
  if (url.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size() + 1) {
    throw ConfigError("--dist-url: '" + url + "' is not of the form tcp://HOST:PORT");
  }
  o.store_host = url.substr(scheme.size(), colon - scheme.size());
  if (o.store_host.size() > 2 && o.store_host.front() == '[' && o.store_host.back() == ']') {
    o.store_host = o.store_host.substr(1, o.store_host.size() - 2);  // [::1]
  }
  o.store_port = parse_int(url.substr(colon + 1), "the port of --dist-url '" + url + "'", 1, 65535);
}

}  // namespace

EnvironmentLookup process_environment() {
  return [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
}

std::optional<ProcessGroupOptions> launch_options(const LaunchFlags& flags, const EnvironmentLookup& env) {
  ProcessGroupOptions o;
  std::string rank_from, size_from;
  int rank = flags.rank;
  int size = flags.world_size;
  if (rank >= 0) rank_from = "--rank";
  if (size >= 0) size_from = "--world-size";
  for (const auto& source : kSources) {
    if (rank >= 0 && size >= 0) break;
    const auto r = get(env, source.rank);
    const auto s = get(env, source.size);
    if (!r && !s) continue;
    if (!r || !s) {
      throw ConfigError(std::string("distributed training: ") + (r ? source.rank : source.size) +
                        " is set but " + (r ? source.size : source.rank) + " is not");
    }
    if (size < 0) {
      size = parse_int(*s, source.size, 1, 1 << 20);
      size_from = source.size;
    }
    if (rank < 0) {
      rank = parse_int(*r, source.rank, 0, 1 << 20);
      rank_from = source.rank;
    }
  }
  if (!flags.dist_url.empty() && (rank < 0 || size < 0)) {
    throw ConfigError("--dist-url needs --rank and --world-size (or a launcher's RANK/WORLD_SIZE)");
  }
  if (size < 0 && rank < 0) return std::nullopt;
  if (size < 0) throw ConfigError("distributed training: " + rank_from + " is given but no world size");
  if (rank < 0 && size > 1) throw ConfigError("distributed training: " + size_from + " is given but no rank (--rank)");
  if (rank < 0) rank = 0;
  if (rank >= size) {
    throw ConfigError("distributed training: rank " + std::to_string(rank) + " (" + rank_from +
                      ") is not below the world size " + std::to_string(size) + " (" + size_from + ")");
  }
  if (size == 1) return std::nullopt;
  o.rank = rank;
  o.world_size = size;

  if (!flags.dist_url.empty()) {
    parse_url(flags.dist_url, o);
  } else {
    const auto addr = get(env, "MASTER_ADDR");
    const auto port = get(env, "MASTER_PORT");
    if (!addr || !port) {
      throw ConfigError("distributed training (" + rank_from + " = " + std::to_string(rank) + ", " + size_from +
                        " = " + std::to_string(size) + "): set MASTER_ADDR and MASTER_PORT, or pass "
                        "--dist-url tcp://HOST:PORT, to say where rank 0 listens");
    }
    o.store_host = *addr;
    o.store_port = parse_int(*port, "MASTER_PORT", 1, 65535);
  }
  // torchrun's agent hosts the TCPStore and keeps each restart's keys apart
  // (torch/distributed/rendezvous.py, _create_c10d_store).
  if (get(env, "TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True") {
    o.rank0_hosts_store = false;
    o.store_prefix = "/worker/attempt_" + get(env, "TORCHELASTIC_RESTART_COUNT").value_or("0");
  }
  if (const auto ifname = get(env, "GLOO_SOCKET_IFNAME")) {
    std::stringstream list(*ifname);
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) o.interfaces.push_back(name);
    }
  }
  if (!(flags.timeout_seconds > 0.0)) {
    throw ConfigError("--dist-timeout: expected a positive number of seconds, got " +
                      std::to_string(flags.timeout_seconds));
  }
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(flags.timeout_seconds * 1000.0));
  return o;
}

int threads_per_rank(const EnvironmentLookup& env, int hardware_threads) {
  if (const auto omp = get(env, "OMP_NUM_THREADS")) return parse_int(*omp, "OMP_NUM_THREADS", 1, 4096);
  for (const char* name : {"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"}) {
    if (const auto local = get(env, name)) {
      // SLURM_NTASKS_PER_NODE may read "2(x3)" on heterogeneous jobs; the
      // leading number is this node's.
      const std::string digits = local->substr(0, local->find_first_not_of("0123456789"));
      if (digits.empty()) continue;
      const int ranks = parse_int(digits, name, 1, 1 << 20);
      return std::max(1, hardware_threads / ranks);
    }
  }
  return 0;
}

}  // namespace medseg::pipeline
