// "auto" on AVX512_BF16 without AMX: the faster precision by measurement,
// cached per CPU. The timer is injected (a count of calls shows whether the
// cache answered); one real measurement on tiny windows checks the workload.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "models/precision_measurement.h"
#include "tests/common/temp_dir.h"

namespace medseg::models {
namespace {
namespace fs = std::filesystem;
using medseg::test::TempDir;

CpuFeatures sapphire_like(const std::string& signature) {
  CpuFeatures cpu;
  cpu.model_name = "Intel(R) Xeon(R) Processor";
  cpu.signature = signature;
  cpu.avx2 = cpu.fma = cpu.avx512f = cpu.avx512_bf16 = true;
  return cpu;
}

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

}  // namespace

TEST(PrecisionMeasurement, Bf16OnlyWhenAtLeastFivePercentFaster) {
  EXPECT_EQ(faster_precision({1.0, 0.70}), Precision::kBf16);
  EXPECT_EQ(faster_precision({1.0, 0.95}), Precision::kBf16);
  EXPECT_EQ(faster_precision({1.0, 0.96}), Precision::kFp32);
  EXPECT_EQ(faster_precision({1.0, 1.24}), Precision::kFp32);
  EXPECT_EQ(faster_precision({1.0, 0.0}), Precision::kFp32) << "no bf16 time: no bf16";
}

TEST(PrecisionMeasurement, MeasuresOncePerCpuAndAnswersFromTheCacheAfter) {
  TempDir dir;
  const fs::path cache = dir.path() / "medseg" / "precision.json";
  int calls = 0;
  const auto slower_bf16 = [&calls] {
    ++calls;
    return PrecisionTimings{0.30, 0.37};
  };
  const CpuFeatures emerald = sapphire_like("family 6 model 207 stepping 2");

  const MeasuredPrecision first = measured_precision(emerald, cache, slower_bf16);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(first.from_cache);
  EXPECT_EQ(first.precision, Precision::kFp32);
  ASSERT_TRUE(fs::exists(cache));
  const auto stored = read_json(cache).at(precision_cache_key(emerald));
  EXPECT_DOUBLE_EQ(stored.at("fp32_seconds").get<double>(), 0.30);
  EXPECT_DOUBLE_EQ(stored.at("bf16_seconds").get<double>(), 0.37);
  EXPECT_EQ(stored.at("choice"), "fp32");

  const MeasuredPrecision second = measured_precision(emerald, cache, slower_bf16);
  EXPECT_EQ(calls, 1) << "the cache should have answered";
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.precision, Precision::kFp32);
  EXPECT_DOUBLE_EQ(second.timings.bf16_seconds, 0.37);

  // Another CPU under the same brand string is measured on its own, and both
  // entries stay.
  const CpuFeatures other = sapphire_like("family 6 model 143 stepping 8");
  EXPECT_NE(precision_cache_key(other), precision_cache_key(emerald));
  const MeasuredPrecision faster = measured_precision(other, cache, [&calls] {
    ++calls;
    return PrecisionTimings{0.30, 0.20};
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(faster.precision, Precision::kBf16);
  EXPECT_EQ(read_json(cache).size(), 2u);

  // --measure-precision: measured again, the entry replaced.
  const MeasuredPrecision again = measured_precision(emerald, cache, [&calls] {
    ++calls;
    return PrecisionTimings{0.30, 0.25};
  }, /*measure_again=*/true);
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(again.precision, Precision::kBf16);
  EXPECT_EQ(read_json(cache).at(precision_cache_key(emerald)).at("choice"), "bf16");
}

// Processes started together (a parallel test suite, the ranks of a run)
// must not measure twice and choose differently: the second waits for the
// first's lock and reads its answer. Two threads stand in for two processes
// (each opens the lock file itself, and flock locks belong to the open file).
TEST(PrecisionMeasurement, CallersStartedTogetherMeasureOnceAndAgree) {
  TempDir dir;
  const fs::path cache = dir.path() / "precision.json";
  const CpuFeatures cpu = sapphire_like("family 6 model 207 stepping 2");
  std::atomic<int> calls{0};
  const auto slow_timer = [&calls] {
    const int n = ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Each measurement answers differently: only one may be used.
    return n == 1 ? PrecisionTimings{1.0, 0.5} : PrecisionTimings{1.0, 2.0};
  };
  MeasuredPrecision a, b;
  std::thread first([&] { a = measured_precision(cpu, cache, slow_timer); });
  std::thread second([&] { b = measured_precision(cpu, cache, slow_timer); });
  first.join();
  second.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(a.precision, Precision::kBf16);
  EXPECT_EQ(b.precision, Precision::kBf16);
  EXPECT_NE(a.from_cache, b.from_cache);
}

TEST(PrecisionMeasurement, TheDecisionComesFromTheStoredTimesNotTheStoredChoice) {
  TempDir dir;
  const fs::path cache = dir.path() / "precision.json";
  const CpuFeatures cpu = sapphire_like("family 6 model 207 stepping 2");
  nlohmann::json j;
  j[precision_cache_key(cpu)] = {{"fp32_seconds", 0.3}, {"bf16_seconds", 0.4}, {"choice", "bf16"}};
  std::ofstream(cache) << j.dump();
  int calls = 0;
  const MeasuredPrecision m = measured_precision(cpu, cache, [&calls] {
    ++calls;
    return PrecisionTimings{1.0, 0.5};
  });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(m.precision, Precision::kFp32);
}

TEST(PrecisionMeasurement, ADamagedOrUnwritableCacheIsMeasuredOverWithoutAnError) {
  TempDir dir;
  const CpuFeatures cpu = sapphire_like("family 6 model 207 stepping 2");
  int calls = 0;
  const auto timer = [&calls] {
    ++calls;
    return PrecisionTimings{0.3, 0.2};
  };
  for (const std::string& damaged : {std::string("not json {"), std::string("[1, 2]"),
                                     "{\"" + precision_cache_key(cpu) + "\": {\"fp32_seconds\": \"fast\"}}",
                                     "{\"" + precision_cache_key(cpu) + "\": {\"fp32_seconds\": 0, \"bf16_seconds\": 1}}"}) {
    const fs::path cache = dir.path() / "precision.json";
    std::ofstream(cache) << damaged;
    const int before = calls;
    const MeasuredPrecision m = measured_precision(cpu, cache, timer);
    EXPECT_EQ(calls, before + 1) << damaged;
    EXPECT_EQ(m.precision, Precision::kBf16) << damaged;
    EXPECT_NO_THROW(read_json(cache).at(precision_cache_key(cpu)).at("bf16_seconds").get<double>()) << damaged;
  }
  // A file where the cache's folder should be: the answer holds for this
  // process, nothing is thrown.
  std::ofstream(dir.path() / "blocked") << "x";
  const MeasuredPrecision unwritable = measured_precision(cpu, dir.path() / "blocked" / "precision.json", timer);
  EXPECT_EQ(unwritable.precision, Precision::kBf16);
  const MeasuredPrecision no_cache = measured_precision(cpu, fs::path(), timer);
  EXPECT_EQ(no_cache.precision, Precision::kBf16);
}

TEST(PrecisionMeasurement, TheCacheFileFollowsXdgCacheHomeThenHome) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string saved_xdg = xdg ? xdg : "", saved_home = home ? home : "";
  setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(precision_cache_file(), fs::path("/tmp/xdg/medseg/precision.json"));
  setenv("XDG_CACHE_HOME", "relative/ignored", 1);  // the XDG spec: relative paths are invalid
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(precision_cache_file(), fs::path("/home/u/.cache/medseg/precision.json"));
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  EXPECT_TRUE(precision_cache_file().empty());
  if (xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (home) setenv("HOME", saved_home.c_str(), 1);
}

TEST(PrecisionMeasurement, TheWorkloadRunsInBothPrecisionsAndLeavesTheGlobalGeneratorAsItWas) {
  torch::manual_seed(42);
  const torch::Tensor expected = torch::rand({8});
  torch::manual_seed(42);
  const PrecisionTimings t = time_precisions(16);
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected)) << "the measurement moved the global generator";
  EXPECT_GT(t.fp32_seconds, 0.0);
  EXPECT_GT(t.bf16_seconds, 0.0);
  EXPECT_LT(t.fp32_seconds, 60.0);
}

}  // namespace medseg::models
