#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "pipeline/eval/evaluation.h"

namespace medseg::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(EvaluationSummary, SummarizeSkipsNonFiniteValuesAndUsesThePopulationStd) {
  // {3, 1, 2}: mean 2, median 2, population std sqrt(2/3).
  const SummaryStat odd = summarize({3.0, kNaN, 1.0, kInf, 2.0});
  EXPECT_EQ(odd.count, 3);
  EXPECT_DOUBLE_EQ(odd.mean, 2.0);
  EXPECT_DOUBLE_EQ(odd.median, 2.0);
  EXPECT_NEAR(odd.std, std::sqrt(2.0 / 3.0), 1e-12);
  // {4, 1, 3, 2}: mean 2.5, median (2 + 3) / 2, std sqrt(5 / 4).
  const SummaryStat even = summarize({4.0, 1.0, 3.0, 2.0});
  EXPECT_EQ(even.count, 4);
  EXPECT_DOUBLE_EQ(even.mean, 2.5);
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_NEAR(even.std, std::sqrt(1.25), 1e-12);
  const SummaryStat none = summarize({kNaN, -kInf});
  EXPECT_EQ(none.count, 0);
  EXPECT_TRUE(std::isnan(none.mean) && std::isnan(none.median) && std::isnan(none.std));
}

LabelMetrics metrics(int label, double dice, double hd95, double volume_diff) {
  LabelMetrics m;
  m.label = label;
  m.dice = dice;
  m.iou = dice / (2.0 - dice);
  m.hd95_mm = hd95;
  m.mean_surface_distance_mm = hd95 / 2;
  m.surface_dice = 1.0 - dice / 10;
  m.volume_difference_ml = volume_diff;
  return m;
}

TEST(EvaluationSummary, RowsCoverEveryLabelAndMetricOverTheCasesThatHaveIt) {
  Evaluation e;
  e.labels = {1, 2};
  e.cases = {{"a", {metrics(1, 0.9, 2.0, -1.0), metrics(2, 0.5, kInf, 3.0)}},
             {"b", {metrics(1, 0.7, 4.0, 2.0)}},  // label 2 not evaluated in b
             {"c", {metrics(1, 0.8, 9.0, 5.0), metrics(2, 0.7, 1.0, -3.0)}}};
  const auto rows = summary_rows(e);
  ASSERT_EQ(rows.size(), 12u);
  const char* names[] = {"dice", "iou", "hd95_mm", "msd_mm", "nsd", "volume_diff_ml"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].label, i < 6 ? 1 : 2);
    EXPECT_EQ(rows[i].metric, names[i % 6]);
  }
  // Label 1 dice over a, b, c: 0.9, 0.7, 0.8.
  EXPECT_EQ(rows[0].stat.count, 3);
  EXPECT_NEAR(rows[0].stat.mean, 0.8, 1e-12);
  EXPECT_NEAR(rows[0].stat.median, 0.8, 1e-12);
  EXPECT_NEAR(rows[0].stat.std, std::sqrt(0.02 / 3), 1e-12);
  // Label 1 IoU: 0.9/1.1, 0.7/1.3, 0.8/1.2 by hand.
  EXPECT_NEAR(rows[1].stat.mean, (0.9 / 1.1 + 0.7 / 1.3 + 0.8 / 1.2) / 3, 1e-12);
  // Label 1 HD95 median of 2, 4, 9; MSD is half of it.
  EXPECT_DOUBLE_EQ(rows[2].stat.median, 4.0);
  EXPECT_DOUBLE_EQ(rows[3].stat.mean, 2.5);
  // Label 1 volume difference keeps its sign: (-1 + 2 + 5) / 3.
  EXPECT_DOUBLE_EQ(rows[5].stat.mean, 2.0);
  // Label 2 only in a and c; a's infinite HD95 (one mask empty) is left out.
  EXPECT_EQ(rows[6].stat.count, 2);
  EXPECT_NEAR(rows[6].stat.mean, 0.6, 1e-12);
  EXPECT_EQ(rows[8].stat.count, 1);
  EXPECT_DOUBLE_EQ(rows[8].stat.mean, 1.0);
  EXPECT_DOUBLE_EQ(rows[11].stat.mean, 0.0);

  // Every metric name is a column of the per-case CSV, and the summary CSV
  // has one line per row with the same numbers.
  const std::string header = evaluation_csv(e).substr(0, evaluation_csv(e).find('\n'));
  for (const char* name : names) EXPECT_NE(("," + header + ",").find(std::string(",") + name + ","), std::string::npos) << name;
  std::istringstream csv(summary_csv(rows));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "label,metric,mean,median,std,n");
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("1,dice,0.8", 0), 0u) << line;
  EXPECT_EQ(line.substr(line.rfind(',')), ",3");
  int lines = 1;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 12);
}

}  // namespace
}  // namespace medseg::pipeline
