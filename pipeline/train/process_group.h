#pragma once
// The processes of a data-parallel training job, joined through PyTorch's
// c10d with the Gloo backend. Only process_group.cpp includes c10d/Gloo
// (their headers cost ~1 min and 1.2 GB to compile); everything else sees
// this small class.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace medseg::pipeline {

/// A data-parallel job failed: a peer process died or stopped answering
/// within the timeout, or the group could not be joined. Not bad input, so it
/// is no medseg::Error (exit code 2) but a failure (the CLI exits with 1).
/// Declared here rather than in core/error.h: only distributed training
/// throws it.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where and how to join the group.
struct ProcessGroupOptions {
  int rank = 0;
  int world_size = 1;
  /// The TCPStore's address and port (MASTER_ADDR / MASTER_PORT).
  std::string store_host = "127.0.0.1";
  int store_port = 29500;
  /// Rank 0 hosts the TCPStore; false when a launcher (torchrun's agent) hosts it.
  bool rank0_hosts_store = true;
  /// Prefix of every store key (torchrun's agent store: "/worker/attempt_N").
  std::string store_prefix;
  /// Network interfaces for Gloo (GLOO_SOCKET_IFNAME, comma-separated); empty:
  /// loopback when the store is on this machine's loopback, else the address
  /// this machine's hostname resolves to.
  std::vector<std::string> interfaces;
  /// Bounds joining the group and every collective: a peer that died or hangs
  /// makes the call throw after at most this long.
  std::chrono::milliseconds timeout{std::chrono::seconds(1800)};
};

/// A joined group. Collectives are blocking and must be called by every rank
/// in the same order with tensors of the same shape and dtype. Every failure
/// (a peer gone, a timeout) throws DistributedError naming this rank and the
/// operation.
class ProcessGroup {
 public:
  /// Joins; blocks until all `world_size` ranks have joined (or the timeout).
  explicit ProcessGroup(const ProcessGroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const ProcessGroupOptions& options() const { return options_; }

  /// Replaces `tensor` (contiguous, CPU) in place by its elementwise sum over
  /// all ranks. `what` names the operation in error messages.
  void all_reduce_sum(at::Tensor& tensor, const char* what);
  /// Replaces `tensor` (contiguous, CPU) on every rank by rank `root`'s.
  void broadcast(at::Tensor& tensor, int root, const char* what);
  /// Returns once every rank has called it.
  void barrier(const char* what);

  /// Bytes passed to all-reduces and broadcasts so far, and the time spent in
  /// them (for the log and the benchmark).
  std::int64_t bytes_communicated() const { return bytes_; }
  double seconds_communicating() const { return seconds_; }

 private:
  struct Impl;
  ProcessGroupOptions options_;
  std::unique_ptr<Impl> impl_;
  std::int64_t bytes_ = 0;
  double seconds_ = 0.0;
};

}  // namespace medseg::pipeline
