// The one translation unit that includes c10d and Gloo (see process_group.h).
#include "pipeline/train/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <exception>
#include <sstream>

#include "core/error.h"
#include "core/error_message.h"

#ifndef USE_C10D_GLOO
#error "medseg needs LibTorch built with c10d + Gloo (USE_C10D_GLOO, defined by the torch_cpu target)"
#endif

namespace medseg::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::milliseconds t) {
  std::ostringstream s;
  s << static_cast<double>(t.count()) / 1000.0 << " s";
  return s.str();
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const ProcessGroupOptions& o) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
  for (const auto& interface : o.interfaces) {
    devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  }
  if (!devices.empty()) return devices;
  // The device is the address *this* rank listens on: binding every rank to
  // MASTER_ADDR (createDeviceForHostname(master)) only works on the master.
  if (is_loopback(o.store_host)) {
    devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return devices;
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

[[noreturn]] void fail(const ProcessGroupOptions& o, const std::string& what) {
  throw DistributedError("distributed training, rank " + std::to_string(o.rank) + " of " +
                         std::to_string(o.world_size) + ": " + what + " failed (a peer process exited, or did not "
                         "answer within --dist-timeout " + seconds_text(o.timeout) + "): " +
                         core::current_exception_line());
}

}  // namespace

ProcessGroup::ProcessGroup(const ProcessGroupOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size) {
    throw ConfigError("distributed training: rank " + std::to_string(options_.rank) + " is not in 0.." +
                      std::to_string(options_.world_size - 1) + " (world size " +
                      std::to_string(options_.world_size) + ")");
  }
  if (options_.store_port <= 0 || options_.store_port > 65535) {
    throw ConfigError("distributed training: port " + std::to_string(options_.store_port) + " is not in 1..65535");
  }
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options_.store_port);
    so.isServer = options_.rank0_hosts_store && options_.rank == 0;
    so.numWorkers = static_cast<std::size_t>(options_.world_size);
    so.waitWorkers = false;  // the group's own rendezvous below waits, bounded by the timeout
    so.timeout = options_.timeout;
    so.multiTenant = true;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(options_.store_host, so);
    if (!options_.store_prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(options_.store_prefix, store);
    impl_->store = store;
    auto go = c10d::ProcessGroupGloo::Options::create(options_.timeout);
    go->devices = gloo_devices(options_);
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options_.rank, options_.world_size, go);
  } catch (const std::exception&) {
    fail(options_, "joining the group at " + options_.store_host + ":" + std::to_string(options_.store_port));
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_sum(at::Tensor& tensor, const char* what) {
  const auto start = Clock::now();
  try {
    std::vector<at::Tensor> tensors{tensor};
    impl_->group->allreduce(tensors)->wait();
  } catch (const std::exception&) {
    fail(options_, what);
  }
  bytes_ += static_cast<std::int64_t>(tensor.nbytes());
  seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root, const char* what) {
  const auto start = Clock::now();
  try {
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    impl_->group->broadcast(tensors, bo)->wait();
  } catch (const std::exception&) {
    fail(options_, what);
  }
  bytes_ += static_cast<std::int64_t>(tensor.nbytes());
  seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
}

void ProcessGroup::barrier(const char* what) {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception&) {
    fail(options_, what);
  }
}

}  // namespace medseg::pipeline
