#include "pipeline/train/batch_loader.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "models/runtime.h"
#include "pipeline/random.h"

namespace medseg::pipeline {

Batch make_batch(const PatchSampler& sampler, const Augmenter& augmenter, const BatchLoaderOptions& options,
                 std::int64_t index) {
  const std::int64_t n = options.batch_size * options.world_size;  // the global batch
  std::int64_t foreground = std::llround(static_cast<double>(n) * options.foreground_fraction);
  if (options.foreground_fraction > 0.0) foreground = std::max<std::int64_t>(foreground, 1);
  std::vector<at::Tensor> images, labels;
  std::vector<std::int64_t> domains;
  const std::int64_t first = options.rank * options.batch_size;
  std::int64_t batch_domain = -1;
  if (options.domain_per_batch) {
    Random random(derive_seed(options.seed, /*stream=*/2, static_cast<std::uint64_t>(index)));
    const auto& all = sampler.domains();
    batch_domain = all[static_cast<std::size_t>(random.index(static_cast<std::int64_t>(all.size())))];
  }
  // augmentation.scanner_per_batch: one simulated scanner for the whole
  // global batch (every rank draws the same).
  std::optional<Random> scanner;
  if (augmenter.scanner_per_batch()) scanner.emplace(derive_seed(options.seed, /*stream=*/3, static_cast<std::uint64_t>(index)));
  for (std::int64_t s = first; s < first + options.batch_size; ++s) {
    Random random(derive_seed(options.seed, /*stream=*/1, static_cast<std::uint64_t>(index * n + s)));
    const bool fg = s >= n - foreground;
    const PatchLocation loc = batch_domain >= 0 ? sampler.sample(random, fg, batch_domain) : sampler.sample(random, fg);
    const TrainingCase& c = sampler.cases()[loc.case_index];
    Patch p = augmenter(c, loc, random, scanner ? &*scanner : nullptr);
    images.push_back(p.image);
    labels.push_back(p.labels);
    domains.push_back(c.domain);
  }
  Batch b;
  b.index = index;
  b.image = at::stack(images);
  b.labels = at::stack(labels);
  b.domains = at::tensor(domains, at::kLong);
  return b;
}

BatchLoader::BatchLoader(const PatchSampler& sampler, const Augmenter& augmenter, BatchLoaderOptions options,
                         std::int64_t first_index)
    : sampler_(sampler),
      augmenter_(augmenter),
      options_(options),
      next_to_build_(first_index),
      next_to_hand_out_(first_index) {
  for (std::int64_t t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& w : workers_) w.join();
}

void BatchLoader::work() {
  models::limit_this_thread_to_one_compute_thread();
  while (true) {
    std::int64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || next_to_build_ < next_to_hand_out_ + options_.prefetch; });
      if (stopping_) return;
      index = next_to_build_++;
    }
    try {
      Batch b = make_batch(sampler_, augmenter_, options_, index);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

Batch BatchLoader::next() {
  if (workers_.empty()) return make_batch(sampler_, augmenter_, options_, next_to_hand_out_++);
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || ready_.count(next_to_hand_out_) != 0; });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_.at(next_to_hand_out_));
  ready_.erase(next_to_hand_out_++);
  lock.unlock();
  changed_.notify_all();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return b;
}

}  // namespace medseg::pipeline
