// The node's pieces that need no network: back-off delays, rule matching,
// the received-instance checks and the on-disk queue across a "restart"
// (a second CaseQueue on the same folder, as after kill -9).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "pipeline/io/dicom_series_writer.h"
#include "pipeline/pacs/case_queue.h"
#include "pipeline/pacs/dicom_instance.h"
#include "pipeline/config/node_config.h"
#include "pipeline/pacs/series_rules.h"
#include "pipeline/volume.h"
#include "tests/common/temp_dir.h"

namespace medseg::pipeline::pacs {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

TEST(RetryPolicy, WaitsGrowByTheFactorUpToTheMaximum) {
  RetryPolicy p;
  p.initial_seconds = 5;
  p.factor = 2;
  p.max_seconds = 30;
  EXPECT_DOUBLE_EQ(retry_delay_seconds(p, 1), 5);
  EXPECT_DOUBLE_EQ(retry_delay_seconds(p, 2), 10);
  EXPECT_DOUBLE_EQ(retry_delay_seconds(p, 3), 20);
  EXPECT_DOUBLE_EQ(retry_delay_seconds(p, 4), 30);
  EXPECT_DOUBLE_EQ(retry_delay_seconds(p, 40), 30);
}

TEST(SeriesRules, FirstMatchWinsModalityIgnoresCaseAndPatternsAreSearched) {
  Rule head;
  head.name = "head";
  head.modalities = {"ct"};
  head.body_part = "HEAD|BRAIN";
  Rule any_mr;
  any_mr.name = "mr";
  any_mr.modalities = {"MR", "PT"};
  Rule fallback;
  fallback.name = "any";
  fallback.series_description = "^t1";
  const std::vector<Rule> rules{head, any_mr, fallback};
  EXPECT_EQ(match_rule(rules, {"CT", "HEADNECK", ""})->name, "head");
  EXPECT_EQ(match_rule(rules, {"CT", "brain", ""})->name, "head");
  EXPECT_EQ(match_rule(rules, {"CT", "CHEST", "T1 axial"})->name, "any");
  EXPECT_EQ(match_rule(rules, {"MR", "", ""})->name, "mr");
  EXPECT_EQ(match_rule(rules, {"CT", "CHEST", "axial T1"}), nullptr);
  EXPECT_EQ(match_rule(rules, {"CT", "", ""}), nullptr);  // an empty body part is not HEAD
}

TEST(DicomInstance, NamesComeFromAHashAndUidsAreChecked) {
  EXPECT_EQ(instance_file_name("1.2.3"), instance_file_name("1.2.3"));
  EXPECT_NE(instance_file_name("1.2.3"), instance_file_name("1.2.4"));
  EXPECT_EQ(instance_file_name("../../etc/passwd").find('/'), std::string::npos);
  EXPECT_EQ(instance_file_name("1.2.3").size(), 20u);  // 16 hex digits + ".dcm"
  EXPECT_TRUE(is_valid_uid("1.2.840.10008.5.1.4.1.1.2"));
  EXPECT_FALSE(is_valid_uid(""));
  EXPECT_FALSE(is_valid_uid("1..2"));
  EXPECT_FALSE(is_valid_uid("1.02"));
  EXPECT_FALSE(is_valid_uid("1.2/3"));
  EXPECT_FALSE(is_valid_uid(std::string(65, '1')));
}

/// A 3-slice int16 series (CT Image Storage) written with DCMTK.
std::vector<fs::path> small_series(const fs::path& folder) {
  Volume v;
  v.geometry.size = {8, 6, 3};
  v.geometry.spacing = {1, 1, 2};
  v.data = at::arange(8 * 6 * 3, at::kFloat).reshape({3, 6, 8});
  return write_dicom_series(v, folder);
}

TEST(DicomInstance, AReceivedFileCutInsideAnElementIsRefused) {
  TempDir dir;
  const auto files = small_series(dir / "s");
  const InstanceHeader h = read_received_instance(files[0]);
  EXPECT_TRUE(is_valid_uid(h.series_uid));
  EXPECT_EQ(h.series.modality, "CT");
  fs::resize_file(files[1], fs::file_size(files[1]) - 20);  // inside the pixel data
  try {
    read_received_instance(files[1]);
    FAIL() << "a truncated file was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable DICOM file"), std::string::npos) << e.what();
  }
}

InstanceHeader header(const std::string& series, const std::string& sop) {
  InstanceHeader h;
  h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = sop;
  h.study_uid = "1.2.3";
  h.series_uid = series;
  h.series.modality = "CT";
  return h;
}

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

TEST(CaseQueue, InstancesOfASeriesFormOneCaseThatSurvivesARestart) {
  TempDir dir;
  std::string id;
  {
    CaseQueue q(dir.path());
    touch(q.incoming_dir() / "a");
    const auto first = q.add_instance(q.incoming_dir() / "a", header("1.2.3.1", "1.2.3.1.1"), "STORESCU");
    EXPECT_TRUE(first.new_case);
    touch(q.incoming_dir() / "b");
    const auto again = q.add_instance(q.incoming_dir() / "b", header("1.2.3.1", "1.2.3.1.1"), "STORESCU");
    EXPECT_FALSE(again.new_case);
    EXPECT_TRUE(again.duplicate);  // the same SOP Instance UID replaces itself
    touch(q.incoming_dir() / "c");
    q.add_instance(q.incoming_dir() / "c", header("1.2.3.1", "1.2.3.1.2"), "STORESCU");
    id = first.case_id;
    EXPECT_TRUE(q.take_complete(3600).empty());  // not quiet yet
    EXPECT_THROW(CaseQueue other(dir.path()), IoError);  // one node per queue
  }
  // "Restart": the received case is found again and completes after the
  // quiet period (here none).
  CaseQueue q(dir.path());
  ASSERT_EQ(q.resumed().size(), 1u);
  EXPECT_EQ(q.resumed()[0].state, CaseState::kReceived);
  auto complete = q.take_complete(0);
  ASSERT_EQ(complete.size(), 1u);
  EXPECT_EQ(complete[0].id, id);
  EXPECT_EQ(complete[0].instances, 2);
  EXPECT_GT(complete[0].last_instance_at, 0);
  // A later instance of the same series starts a new case.
  touch(q.incoming_dir() / "d");
  EXPECT_TRUE(q.add_instance(q.incoming_dir() / "d", header("1.2.3.1", "1.2.3.1.3"), "STORESCU").new_case);

  CaseRecord r = complete[0];
  r.state = CaseState::kQueued;
  q.save(r);
  EXPECT_EQ(q.next_ready(unix_now())->id, id);
  r.state = CaseState::kSegmented;
  r.next_attempt_at = unix_now() + 3600;
  q.save(r);
  EXPECT_FALSE(q.next_ready(unix_now()).has_value());  // its next attempt is not due
  EXPECT_TRUE(q.next_ready(unix_now() + 7200).has_value());
  r.state = CaseState::kSent;
  q.save(r);
  EXPECT_FALSE(q.next_ready(unix_now() + 7200).has_value());
  const auto all = list_cases(dir.path());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].state, CaseState::kSent);
  EXPECT_EQ(read_case_record(q.case_dir(id) / "case.json").state, CaseState::kSent);
}

TEST(CaseQueue, TemporariesAndCaseFoldersWithoutARecordAreIgnoredAtStart) {
  TempDir dir;
  fs::create_directories(dir / "incoming");
  touch(dir / "incoming" / ".received-1-0.dcm");
  fs::create_directories(dir / "cases" / ".20260101-000000-000-00000000.partial-1-0");
  CaseQueue q(dir.path());
  EXPECT_FALSE(fs::exists(dir / "incoming" / ".received-1-0.dcm"));
  EXPECT_FALSE(fs::exists(dir / "cases" / ".20260101-000000-000-00000000.partial-1-0"));
  EXPECT_TRUE(q.resumed().empty());
}

}  // namespace
}  // namespace medseg::pipeline::pacs
