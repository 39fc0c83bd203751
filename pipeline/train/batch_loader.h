#pragma once
// Batches assembled on worker threads ahead of the network. Batch n depends
// only on (seed, n): the same batches come out in the same order with any
// number of threads, and a resumed run continues the exact sequence.
#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "pipeline/train/augmenter.h"
#include "pipeline/train/patch_sampler.h"

namespace medseg::pipeline {

struct Batch {
  std::int64_t index = 0;
  at::Tensor image;    ///< float32 (N, C, pd, ph, pw)
  at::Tensor labels;   ///< int64 (N, pd, ph, pw)
  at::Tensor domains;  ///< int64 (N)
};

struct BatchLoaderOptions {
  std::int64_t batch_size = 2;
  /// Share of each batch centred on foreground: the last
  /// round(batch_size * fraction) samples (at least one when > 0, as nnU-Net).
  double foreground_fraction = 0.33;
  std::uint64_t seed = 0;
  /// 0 = build batches on the calling thread when asked.
  std::int64_t threads = 1;
  /// Batches built ahead of the consumer.
  std::int64_t prefetch = 4;
  /// Data-parallel training: batch n of the job is the global batch of
  /// batch_size * world_size samples, and this rank builds its rows
  /// rank * batch_size ... (rank + 1) * batch_size - 1. The ranks' shares are
  /// disjoint, and together they are exactly the batch one process with
  /// batch_size * world_size would draw (foreground share included).
  std::int64_t rank = 0;
  std::int64_t world_size = 1;
  /// Every sample of batch n from one domain, drawn uniformly per batch from
  /// (seed, n) among the cases' domains (multi-domain training: each domain's
  /// batch-norm statistics then come from the whole batch).
  bool domain_per_batch = false;
};

/// Builds this rank's share of batch `index` (pure function of its arguments).
Batch make_batch(const PatchSampler& sampler, const Augmenter& augmenter, const BatchLoaderOptions& options,
                 std::int64_t index);

class BatchLoader {
 public:
  /// Produces batches first_index, first_index + 1, ... until destroyed.
  BatchLoader(const PatchSampler& sampler, const Augmenter& augmenter, BatchLoaderOptions options,
              std::int64_t first_index);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// The next batch in order; blocks while it is being built.
  Batch next();
  /// Total seconds next() spent waiting for workers.
  double wait_seconds() const { return wait_seconds_; }

 private:
  void work();

  const PatchSampler& sampler_;
  const Augmenter& augmenter_;
  BatchLoaderOptions options_;
  std::int64_t next_to_build_;
  std::int64_t next_to_hand_out_;
  std::map<std::int64_t, Batch> ready_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
  double wait_seconds_ = 0.0;
};

}  // namespace medseg::pipeline
