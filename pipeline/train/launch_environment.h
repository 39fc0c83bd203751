#pragma once
// Which process of a data-parallel job this is, from the launcher's
// environment or from command-line flags: torchrun (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, and its agent store), mpirun (OMPI_COMM_WORLD_*),
// PMI launchers (PMI_RANK/PMI_SIZE), srun (SLURM_PROCID/SLURM_NTASKS), or
// --dist-url tcp://HOST:PORT --rank R --world-size W.
#include <functional>
#include <optional>
#include <string>

#include "pipeline/train/process_group.h"

namespace medseg::pipeline {

/// What the command line said; unset fields come from the environment.
struct LaunchFlags {
  std::string dist_url;  ///< tcp://HOST:PORT; empty = MASTER_ADDR/MASTER_PORT
  int rank = -1;         ///< -1 = from the environment
  int world_size = -1;   ///< -1 = from the environment
  double timeout_seconds = 1800.0;
};

/// Reads one environment variable; nullptr when unset.
using EnvironmentLookup = std::function<const char*(const char*)>;

/// The process's own environment (std::getenv).
EnvironmentLookup process_environment();

/// The group to join, or nullopt for a single-process run (no launcher, or a
/// world size of 1). Precedence: flags, torchrun's RANK/WORLD_SIZE,
/// OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE, SLURM_PROCID/SLURM_NTASKS.
/// The store address is --dist-url, else MASTER_ADDR/MASTER_PORT. Throws
/// ConfigError naming the flag or variable that is missing or malformed.
std::optional<ProcessGroupOptions> launch_options(const LaunchFlags& flags, const EnvironmentLookup& env);

/// Compute threads per rank when neither --threads nor training.threads
/// says: OMP_NUM_THREADS if set (torchrun sets 1), else the cores shared by
/// the ranks on this machine (LOCAL_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_SIZE,
/// SLURM_NTASKS_PER_NODE), at least 1. 0 = no opinion (all cores).
int threads_per_rank(const EnvironmentLookup& env, int hardware_threads);

}  // namespace medseg::pipeline
