// `medseg infer --shard`: K/N and Slurm job arrays parse, N shards cover
// every case exactly once, and shard summaries merge (with every way of
// getting it wrong refused).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "pipeline/infer/shard.h"
#include "tests/common/temp_dir.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;

std::function<const char*(const char*)> env(std::map<std::string, std::string> values) {
  auto store = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [store](const char* name) -> const char* {
    const auto it = store->find(name);
    return it == store->end() ? nullptr : it->second.c_str();
  };
}

TEST(Shard, ParsesKOfNAndSlurmArrays) {
  const Shard s = parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(parse_shard("0/1").count, 1);
  for (const char* bad : {"5/5", "-1/3", "1/0", "1", "a/b", "1/2/3", "", "1/ 2"}) {
    EXPECT_THROW(parse_shard(bad), ConfigError) << bad;
  }
  // --array=1-10 (1-based): task 1 is shard 0 of 10.
  Shard one = parse_shard("slurm", env({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "1"},
                                        {"SLURM_ARRAY_TASK_COUNT", "10"}}));
  EXPECT_EQ(one.index, 0);
  EXPECT_EQ(one.count, 10);
  Shard last = parse_shard("slurm", env({{"SLURM_ARRAY_TASK_ID", "9"}, {"SLURM_ARRAY_TASK_MIN", "0"},
                                         {"SLURM_ARRAY_TASK_COUNT", "10"}, {"SLURM_ARRAY_TASK_STEP", "1"}}));
  EXPECT_EQ(last.index, 9);
  try {
    parse_shard("slurm", env({}));
    FAIL() << "no Slurm variables accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SLURM_ARRAY_TASK_ID"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_shard("slurm", env({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_MIN", "0"},
                                         {"SLURM_ARRAY_TASK_COUNT", "5"}, {"SLURM_ARRAY_TASK_STEP", "2"}})),
               ConfigError);
  EXPECT_THROW(parse_shard("slurm", env({{"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "1"},
                                         {"SLURM_ARRAY_TASK_COUNT", "10"}})),
               ConfigError);
}

TEST(Shard, NShardsCoverEveryCaseExactlyOnceAndAreBalanced) {
  std::vector<InferenceCase> cases;
  for (const char* id : {"m", "b", "z", "a", "q", "c", "x"}) {
    InferenceCase c;
    c.id = id;
    cases.push_back(c);
  }
  for (std::int64_t n : {1, 2, 3, 7, 9}) {
    std::multiset<std::string> covered;
    for (std::int64_t k = 0; k < n; ++k) {
      const auto mine = select_shard(cases, {k, n});
      const std::size_t expected = 7 / n + (k < 7 % n ? 1 : 0);
      EXPECT_EQ(mine.size(), expected) << k << "/" << n;
      for (std::size_t i = 1; i < mine.size(); ++i) EXPECT_LT(mine[i - 1].id, mine[i].id);
      for (const auto& c : mine) covered.insert(c.id);
    }
    EXPECT_EQ(covered, (std::multiset<std::string>{"a", "b", "c", "m", "q", "x", "z"})) << n;
  }
  // The listing order does not matter.
  std::vector<InferenceCase> reversed(cases.rbegin(), cases.rend());
  EXPECT_EQ(select_shard(reversed, {1, 3}).front().id, select_shard(cases, {1, 3}).front().id);
  EXPECT_EQ(select_shard(cases, {1, 3}).front().id, "b");  // sorted a b c m q x z: shard 1 takes b, q
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(Shard, SummariesMergeSortedAndMistakesAreRefused) {
  test::TempDir dir;
  const std::string header = "case,status,seconds,input,message,tissue_ml\n";
  EXPECT_EQ(shard_summary_name({1, 3}), "summary.shard-1-of-3.csv");
  write(dir / "summary.shard-0-of-3.csv", header + "c,done,1.5,/in/c.nii.gz,,12.5\nf,failed,0,\"/in/f, bad.nii\",\"no \"\"x\"\"\",\n");
  write(dir / "summary.shard-1-of-3.csv", header + "a,done,2,/in/a.nii.gz,,3\n");
  write(dir / "summary.shard-2-of-3.csv", header);  // a shard without cases
  write(dir / "summary.csv", "not a shard: ignored when the folder is given\n");
  const std::string merged = merge_shard_summaries({dir.path()});
  EXPECT_EQ(merged, header +
                        "a,done,2,/in/a.nii.gz,,3\n"
                        "c,done,1.5,/in/c.nii.gz,,12.5\n"
                        "f,failed,0,\"/in/f, bad.nii\",\"no \"\"x\"\"\",\n");

  const auto error_of = [&](const std::vector<fs::path>& inputs) {
    try {
      merge_shard_summaries(inputs);
    } catch (const IoError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const fs::path s0 = dir / "summary.shard-0-of-3.csv", s1 = dir / "summary.shard-1-of-3.csv";
  EXPECT_NE(error_of({s0, s1}).find("shard 2 of 3 is missing"), std::string::npos) << error_of({s0, s1});
  EXPECT_NE(error_of({s0, s0}).find("given twice"), std::string::npos);
  write(dir / "other.csv", header + "a,done,1,/elsewhere/a.nii.gz,,4\n");
  EXPECT_NE(error_of({s1, dir / "other.csv"}).find("case 'a' is in both"), std::string::npos);
  write(dir / "model2.csv", "case,status,seconds,input,message,bone_ml\n");
  EXPECT_NE(error_of({s1, dir / "model2.csv"}).find("other columns"), std::string::npos);
  fs::create_directories(dir / "four");
  write(dir / "four" / "summary.shard-3-of-4.csv", header);
  EXPECT_NE(error_of({s0, dir / "four"}).find("shard of 4"), std::string::npos);
  write(dir / "short.csv", header + "z,done\n");
  EXPECT_NE(error_of({dir / "short.csv"}).find("record 2 has 2 fields"), std::string::npos);
  EXPECT_NE(error_of({dir / "missing.csv"}).find("missing.csv"), std::string::npos);
  write(dir / "summary.shard-99999999999999999999-of-2.csv", header);  // K overflows: a bad name, not a crash
  EXPECT_NE(error_of({dir / "summary.shard-99999999999999999999-of-2.csv"}).find("not a shard summary name"),
            std::string::npos);
  fs::create_directories(dir / "empty");
  EXPECT_NE(error_of({dir / "empty"}).find("holds no summary.shard"), std::string::npos);
}

}  // namespace
}  // namespace medseg::pipeline
