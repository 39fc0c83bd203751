#pragma once
// `medseg infer --shard K/N`: a job array of any scheduler splits a large
// archive into N deterministic, disjoint shares, and the shards' summaries
// merge into one. Like nnU-Net's `-part_id K -num_parts N`, K counts from 0,
// and every shard must be given the same inputs: the cases are sorted by
// name and shard K takes every N-th one starting at K (balanced within one
// case).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/infer/case_discovery.h"

namespace medseg::pipeline {

struct Shard {
  std::int64_t index = 0;  ///< K, 0 <= K < N
  std::int64_t count = 1;  ///< N
};

/// "K/N" (0 <= K < N), or "slurm": K and N from a Slurm job array
/// (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, so
/// `--array=0-9` and `--array=1-10` both work; a stepped array such as
/// `--array=0-9:2` is refused). `getenv` is injectable for tests. Throws
/// ConfigError naming --shard for anything else.
Shard parse_shard(const std::string& text,
                  const std::function<const char*(const char*)>& getenv = [](const char* name) {
                    return std::getenv(name);
                  });

/// The cases of `shard`, sorted by id.
std::vector<InferenceCase> select_shard(std::vector<InferenceCase> cases, const Shard& shard);

/// "summary.shard-K-of-N.csv": each shard's summary beside the others in a
/// shared output folder.
std::string shard_summary_name(const Shard& shard);

/// Merges shard summaries (files, or folders holding summary.shard-*-of-N.csv
/// files) into one summary.csv text, rows sorted by case. Throws IoError
/// (naming the file) when a summary cannot be read or parsed, the headers
/// differ (another model), a case appears twice, the shards disagree on N, or
/// a shard of 0..N-1 is missing.
std::string merge_shard_summaries(const std::vector<std::filesystem::path>& inputs);

}  // namespace medseg::pipeline
