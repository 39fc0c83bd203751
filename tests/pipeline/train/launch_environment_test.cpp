// Which rank of which job: torchrun, mpirun, PMI, srun and the flags.
#include "pipeline/train/launch_environment.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

using Env = std::map<std::string, std::string>;

EnvironmentLookup lookup(const Env& env) {
  return [env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
}

std::string config_error(const LaunchFlags& flags, const Env& env) {
  try {
    launch_options(flags, lookup(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(LaunchEnvironment, NoLauncherOrOneProcessMeansNoGroup) {
  EXPECT_FALSE(launch_options({}, lookup({})));
  EXPECT_FALSE(launch_options({}, lookup({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}})));
  EXPECT_FALSE(launch_options({}, lookup({{"RANK", "0"}, {"WORLD_SIZE", "1"}})));
}

TEST(LaunchEnvironment, TorchrunWithItsAgentStore) {
  const auto o = launch_options({}, lookup({{"RANK", "1"},
                                            {"WORLD_SIZE", "2"},
                                            {"MASTER_ADDR", "10.0.0.5"},
                                            {"MASTER_PORT", "29400"},
                                            {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                            {"TORCHELASTIC_RESTART_COUNT", "3"},
                                            {"SLURM_PROCID", "7"},
                                            {"SLURM_NTASKS", "8"}}));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->rank, 1);
  EXPECT_EQ(o->world_size, 2);
  EXPECT_EQ(o->store_host, "10.0.0.5");
  EXPECT_EQ(o->store_port, 29400);
  EXPECT_FALSE(o->rank0_hosts_store);
  EXPECT_EQ(o->store_prefix, "/worker/attempt_3");
}

TEST(LaunchEnvironment, MpirunPmiAndSrunRanksWithMasterAddress) {
  const Env addr{{"MASTER_ADDR", "node1"}, {"MASTER_PORT", "1234"}};
  for (const auto& [rank, size] : {std::pair<std::string, std::string>{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                   {"PMI_RANK", "PMI_SIZE"},
                                   {"SLURM_PROCID", "SLURM_NTASKS"}}) {
    Env env = addr;
    env[rank] = "3";
    env[size] = "4";
    env["GLOO_SOCKET_IFNAME"] = "eth1,ib0";
    const auto o = launch_options({}, lookup(env));
    ASSERT_TRUE(o) << rank;
    EXPECT_EQ(o->rank, 3) << rank;
    EXPECT_EQ(o->world_size, 4) << rank;
    EXPECT_EQ(o->store_host, "node1");
    EXPECT_TRUE(o->rank0_hosts_store);
    EXPECT_TRUE(o->store_prefix.empty());
    EXPECT_EQ(o->interfaces, (std::vector<std::string>{"eth1", "ib0"}));
  }
}

TEST(LaunchEnvironment, FlagsWinOverTheEnvironment) {
  LaunchFlags flags;
  flags.dist_url = "tcp://127.0.0.1:4567";
  flags.rank = 0;
  flags.world_size = 2;
  flags.timeout_seconds = 2.5;
  const auto o = launch_options(flags, lookup({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "x"},
                                               {"MASTER_PORT", "1"}}));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->rank, 0);
  EXPECT_EQ(o->world_size, 2);
  EXPECT_EQ(o->store_host, "127.0.0.1");
  EXPECT_EQ(o->store_port, 4567);
  EXPECT_EQ(o->timeout.count(), 2500);
}

TEST(LaunchEnvironment, MissingOrMalformedValuesNameTheirSource) {
  EXPECT_NE(config_error({}, {{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR"), std::string::npos);
  EXPECT_NE(config_error({}, {{"RANK", "0"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(config_error({}, {{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK is 'x'"), std::string::npos);
  EXPECT_NE(config_error({}, {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})
                .find("not below the world size 2"),
            std::string::npos);
  LaunchFlags url;
  url.dist_url = "http://host:1";
  url.rank = 0;
  url.world_size = 2;
  EXPECT_NE(config_error(url, {}).find("tcp://HOST:PORT"), std::string::npos);
  url.dist_url = "tcp://host:99999";
  EXPECT_NE(config_error(url, {}).find("port"), std::string::npos);
  LaunchFlags no_rank;
  no_rank.world_size = 2;
  no_rank.dist_url = "tcp://h:1";
  EXPECT_NE(config_error(no_rank, {}).find("--rank"), std::string::npos);
}

TEST(LaunchEnvironment, ThreadsPerRankShareTheMachine) {
  EXPECT_EQ(threads_per_rank(lookup({{"OMP_NUM_THREADS", "1"}, {"LOCAL_WORLD_SIZE", "2"}}), 8), 1);
  EXPECT_EQ(threads_per_rank(lookup({{"LOCAL_WORLD_SIZE", "2"}}), 8), 4);
  EXPECT_EQ(threads_per_rank(lookup({{"SLURM_NTASKS_PER_NODE", "3(x2)"}}), 8), 2);
  EXPECT_EQ(threads_per_rank(lookup({{"OMPI_COMM_WORLD_LOCAL_SIZE", "16"}}), 8), 1);
  EXPECT_EQ(threads_per_rank(lookup({}), 8), 0);
}

}  // namespace
}  // namespace medseg::pipeline
