// `medseg infer` and `medseg adapt` end to end: outputs in the input's format
// and geometry, reports, batch behaviour with bad input, exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <utility>

#include "models/bundle.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "tests/app/cli_helpers.h"
#include "tests/pipeline/common/tiny_bundle.h"

namespace medseg::test {
namespace {
using pipeline::Volume;

const std::array<double, 9> kIdentity{1, 0, 0, 0, 1, 0, 0, 0, 1};

class InferCli : public ::testing::Test {
 protected:
  void SetUp() override {
    save_tiny_bundle(tmp_ / "bundle");
    oblique_ = blob_volume({13, 11, 9}, {1.1, 0.9, 1.7}, {-12.5, 30.25, 7.0}, oblique_direction());
    fs::create_directories(tmp_ / "in");
    pipeline::write_volume(oblique_, tmp_ / "in" / "oblique.nii.gz");
    pipeline::write_volume(blob_volume({10, 12, 8}, {1.0, 1.2, 2.0}, {5, 6, 7}, kIdentity), tmp_ / "in" / "plain.nrrd",
                           pipeline::PixelType::kInt16);
  }
  std::string infer(const std::string& args) const {
    return "infer --model " + quoted(tmp_ / "bundle") + " --precision fp32 " + args;
  }
  TempDir tmp_;
  Volume oblique_;
};

void expect_geometry(const pipeline::Geometry& a, const pipeline::Geometry& b, double tol) {
  EXPECT_EQ(a.size, b.size);
  for (int d = 0; d < 3; ++d) {
    EXPECT_NEAR(a.spacing[d], b.spacing[d], tol);
    EXPECT_NEAR(a.origin[d], b.origin[d], tol);
  }
  for (int d = 0; d < 9; ++d) EXPECT_NEAR(a.direction[d], b.direction[d], tol);
}

TEST_F(InferCli, FolderInputGivesLabelMapsInTheInputFormatGeometryAndReports) {
  const Result r = medseg(infer(quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "out")));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("2 done, 0 skipped, 0 failed"), std::string::npos) << r.out;
  for (const char* name : {"oblique.nii.gz", "plain.nrrd"}) {
    const fs::path in = tmp_ / "in" / name;
    const fs::path out = tmp_ / "out" / name;
    ASSERT_TRUE(fs::exists(out)) << out;
    const Volume input = pipeline::read_volume(in);
    const Volume labels = pipeline::read_label_map(out);
    expect_geometry(labels.geometry, input.geometry, std::string(name).find(".nii") != std::string::npos ? 1e-6 : 1e-9);
    EXPECT_EQ(labels.pixel_type, "uint8");
    // The file holds what the Segmenter computes in memory.
    const pipeline::Segmenter segmenter(models::load_bundle(tmp_ / "bundle"));
    pipeline::SegmentOptions o;
    o.precision = pipeline::Precision::kFp32;
    const auto s = segmenter.segment({input}, o);
    EXPECT_TRUE(torch::equal(labels.data, s.labels.data)) << name;

    const std::string id = fs::path(name).stem().stem().string();
    const auto report = nlohmann::json::parse(slurp(tmp_ / "out" / (id + ".json")));
    EXPECT_EQ(report["case"], id);
    EXPECT_EQ(report["input"][0], in.string());
    EXPECT_EQ(report["output"], out.string());
    EXPECT_EQ(report["model"]["name"], "tiny");
    EXPECT_EQ(report["model"]["version"], "7");
    EXPECT_EQ(report["domain"], "scanner_a");
    EXPECT_EQ(report["precision"], "fp32");
    ASSERT_EQ(report["labels"].size(), 2u);
    EXPECT_EQ(report["labels"][1]["name"], "organ");
    EXPECT_EQ(report["labels"][1]["voxels"], s.label_statistics[1].voxels);
    EXPECT_DOUBLE_EQ(report["labels"][1]["volume_ml"].get<double>(), s.label_statistics[1].volume_ml);
    EXPECT_EQ(report["windows"]["total"], s.windows.windows);
    EXPECT_EQ(report["windows"]["skipped"], s.windows.skipped);
    for (const char* t : {"read", "preprocess", "network", "blending", "postprocess", "restore", "write", "total"}) {
      EXPECT_TRUE(report["timings_s"].contains(t)) << t;
    }
    // Reading, segmentation and writing are consecutive parts of the total.
    const auto& t = report["timings_s"];
    EXPECT_GT(t["read"].get<double>(), 0.0);
    EXPECT_GT(t["write"].get<double>(), 0.0);
    EXPECT_LE(t["read"].get<double>() + t["segmentation"].get<double>() + t["write"].get<double>(),
              t["total"].get<double>());
    EXPECT_FALSE(report["medseg_version"].get<std::string>().empty());
  }
  const std::string csv = slurp(tmp_ / "out" / "summary.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "case,status,seconds,input,message,organ_ml,windows,windows_skipped");
  EXPECT_EQ(count_lines(csv), 3);
  // No temporary file is left behind.
  for (const auto& e : fs::directory_iterator(tmp_ / "out")) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST_F(InferCli, ExistingOutputsAreSkippedUnlessOverwrite) {
  const std::string args = quoted(tmp_ / "in" / "plain.nrrd") + " --output " + quoted(tmp_ / "out");
  ASSERT_EQ(medseg(infer(args)).exit_code, 0);
  const auto written = fs::last_write_time(tmp_ / "out" / "plain.nrrd");
  const Result again = medseg(infer(args));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("plain: skipped"), std::string::npos) << again.out;
  EXPECT_EQ(fs::last_write_time(tmp_ / "out" / "plain.nrrd"), written);
  EXPECT_NE(slurp(tmp_ / "out" / "summary.csv").find("plain,skipped"), std::string::npos);
  // A missing report means the case was not finished: it is redone.
  fs::remove(tmp_ / "out" / "plain.json");
  EXPECT_NE(medseg(infer(args)).out.find("plain: done"), std::string::npos);
  const Result over = medseg(infer(args + " --overwrite"));
  EXPECT_EQ(over.exit_code, 0);
  EXPECT_NE(over.out.find("plain: done"), std::string::npos) << over.out;
}

TEST_F(InferCli, ShardsShareTheCasesAndTheirSummariesMergeIntoOne) {
  write_text(tmp_ / "in" / "broken.nii.gz", "not a volume");  // three cases: broken, oblique, plain
  const std::string in = quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "out");
  const Result first = medseg(infer(in + " --shard 0/2"));
  EXPECT_EQ(first.exit_code, 2) << first.err;  // sorted: broken (shard 0), oblique (1), plain (0)
  EXPECT_NE(first.out.find("shard 0/2: 2 of 3 cases"), std::string::npos) << first.out;
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "plain.nrrd"));
  EXPECT_FALSE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
  // Slurm's --array=1-2: task 2 is shard 1.
  const Result second = run("env SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=2 '" +
                            std::string(MEDSEG_BINARY) + "' " + infer(in + " --shard slurm"));
  EXPECT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp_ / "out" / "summary.csv"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "summary.shard-0-of-2.csv"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "summary.shard-1-of-2.csv"));

  const Result merged = medseg("merge-shards " + quoted(tmp_ / "out"));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const std::string csv = slurp(tmp_ / "out" / "summary.csv");
  const auto broken = csv.find("\nbroken,failed"), oblique = csv.find("\noblique,done"), plain = csv.find("\nplain,done");
  EXPECT_TRUE(broken != std::string::npos && oblique != std::string::npos && plain != std::string::npos) << csv;
  EXPECT_TRUE(broken < oblique && oblique < plain) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;

  fs::remove(tmp_ / "out" / "summary.shard-1-of-2.csv");
  const Result incomplete = medseg("merge-shards " + quoted(tmp_ / "out"));
  EXPECT_EQ(incomplete.exit_code, 2);
  EXPECT_NE(incomplete.err.find("shard 1 of 2 is missing"), std::string::npos) << incomplete.err;
  const Result bad = medseg(infer(in + " --shard 2/2"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--shard '2/2'"), std::string::npos) << bad.err;
}

TEST_F(InferCli, CorruptFileAmongGoodOnesIsReportedAndTheOthersAreWritten) {
  write_text(tmp_ / "in" / "broken.nii.gz", "this is not a NIfTI file at all");
  const Result r = medseg(infer(quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "out")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("broken.nii.gz"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "plain.nrrd"));
  EXPECT_FALSE(fs::exists(tmp_ / "out" / "broken.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp_ / "out" / "broken.json"));
  EXPECT_NE(slurp(tmp_ / "out" / "summary.csv").find("broken,failed"), std::string::npos);
  EXPECT_NE(r.out.find("2 done, 0 skipped, 1 failed"), std::string::npos) << r.out;
}

// Issue 17: a DICOM case whose file makes GDCM abort (CT_small.dcm cut
// inside its meta header) costs that case only; the cases after it run.
TEST_F(InferCli, ADicomCaseThatAbortsGdcmFailsAloneAndLaterCasesRun) {
  const fs::path ct = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
  ASSERT_TRUE(fs::exists(ct)) << "scripts/setup.sh installs python3-pydicom";
  fs::create_directories(tmp_ / "dicom_case");
  fs::copy_file(ct, tmp_ / "dicom_case" / "ct.dcm");
  std::string head(300, '\0');
  std::ifstream(ct, std::ios::binary).read(head.data(), static_cast<std::streamsize>(head.size()));
  write_text(tmp_ / "dicom_case" / "broken.dcm", head);
  write_text(tmp_ / "list.txt", "in/plain.nrrd\ndicom_case\nin/oblique.nii.gz\n");
  const Result r = medseg(infer(quoted(tmp_ / "list.txt") + " --output " + quoted(tmp_ / "out")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("broken.dcm' crashes the DICOM decoder"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("2 done, 0 skipped, 1 failed"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "plain.nrrd"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
  EXPECT_NE(slurp(tmp_ / "out" / "summary.csv").find("dicom_case,failed"), std::string::npos);
}

// A DICOM case whose file hangs the decoder (the MEDSEG_TEST_HANG_ON_FILE
// hook stands in for one) costs that case --dicom-timeout seconds and an
// error naming the file; the cases after it run.
TEST_F(InferCli, ADicomCaseThatHangsTheDecoderFailsAfterTheTimeoutAndLaterCasesRun) {
  const fs::path ct = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
  ASSERT_TRUE(fs::exists(ct)) << "scripts/setup.sh installs python3-pydicom";
  fs::create_directories(tmp_ / "dicom_case");
  fs::copy_file(ct, tmp_ / "dicom_case" / "ct.dcm");
  write_text(tmp_ / "list.txt", "in/plain.nrrd\ndicom_case\nin/oblique.nii.gz\n");
  const auto start = std::chrono::steady_clock::now();
  const Result r = run("MEDSEG_TEST_HANG_ON_FILE=ct.dcm '" + std::string(MEDSEG_BINARY) + "' --dicom-timeout 1 " +
                       infer(quoted(tmp_ / "list.txt") + " --output " + quoted(tmp_ / "out")));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("file 'ct.dcm' hangs the DICOM decoder (GDCM: no result within 1 s, stopped)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("2 done, 0 skipped, 1 failed"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "plain.nrrd"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
  EXPECT_NE(slurp(tmp_ / "out" / "summary.csv").find("dicom_case,failed"), std::string::npos);
}

TEST_F(InferCli, UnwritableOutputFolderIsOneClearError) {
  fs::path out;
  if (::geteuid() == 0) {
    // root ignores permissions: a folder below a regular file cannot exist.
    write_text(tmp_ / "a_file", "x");
    out = tmp_ / "a_file" / "out";
  } else {
    fs::create_directories(tmp_ / "locked");
    ::chmod((tmp_ / "locked").c_str(), 0500);
    out = tmp_ / "locked";
  }
  const Result r = medseg(infer(quoted(tmp_ / "in") + " --output " + quoted(out)));
  ::chmod((tmp_ / "locked").c_str(), 0700);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("output folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(out.string()), std::string::npos) << r.err;
}

TEST_F(InferCli, BundleWithANewerFormatIsRefusedInOneLine) {
  const fs::path yaml = tmp_ / "bundle" / "model.yaml";
  std::string text = slurp(yaml);
  const auto at = text.find("format_version: 1");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 17, "format_version: 2");
  write_text(yaml, text);
  const Result r = medseg(infer(quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "out")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("newer"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "out" / "plain.nrrd"));
}

TEST_F(InferCli, TextListAndJsonSummary) {
  write_text(tmp_ / "list.txt", "# cases\nin/plain.nrrd\n\n" + (tmp_ / "in" / "oblique.nii.gz").string() +
                                    "\nin/missing.nii.gz\n");
  const Result r = medseg(infer(quoted(tmp_ / "list.txt") + " --json --output " + quoted(tmp_ / "out")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["done"], 2);
  EXPECT_EQ(j["failed"], 1);
  ASSERT_EQ(j["cases"].size(), 3u);
  EXPECT_EQ(j["cases"][0]["case"], "plain");
  EXPECT_EQ(j["cases"][0]["status"], "done");
  EXPECT_EQ(j["cases"][2]["status"], "failed");
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "plain.nrrd"));
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "oblique.nii.gz"));
}

TEST_F(InferCli, AListInsideAListIsAFailedCaseNamedAfterIt) {
  write_text(tmp_ / "inner.txt", "in/plain.nrrd\n");
  write_text(tmp_ / "outer.txt", "in/plain.nrrd\ninner.txt\n");
  const Result r = medseg(infer(quoted(tmp_ / "outer.txt") + " --json --output " + quoted(tmp_ / "out")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("lists inside lists are not supported"), std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["done"], 1);
  EXPECT_EQ(j["failed"], 1);
  bool named = false;
  for (const auto& c : j["cases"]) named = named || (c["case"] == "inner.txt" && c["status"] == "failed");
  EXPECT_TRUE(named) << r.out;
}

TEST_F(InferCli, NamedAndAutoDomainsRunAndUnknownDomainIsRefused) {
  const std::string in = quoted(tmp_ / "in" / "plain.nrrd");
  const Result b = medseg(infer(in + " --domain scanner_b --output " + quoted(tmp_ / "b")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp_ / "b" / "plain.json"))["domain"], "scanner_b");
  const Result a =
      medseg(infer(in + " --domain auto --no-adapt-check --probabilities --output " + quoted(tmp_ / "auto")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto report = nlohmann::json::parse(slurp(tmp_ / "auto" / "plain.json"));
  EXPECT_EQ(report["domain"], "auto");
  EXPECT_GT(report["timings_s"]["adaptation"].get<double>(), 0.0);
  EXPECT_EQ(report["adaptation"]["method"], "prior,adabn");  // the default
  EXPECT_EQ(report["adaptation"]["method_from"], "default");
  EXPECT_EQ(report["adaptation"]["checked"], false);
  EXPECT_EQ(report["adaptation"]["checked_from"], "option");
  EXPECT_EQ(report["adaptation"]["kept"], true);
  // The check's decision and its measurements are in the report.
  const Result checked = medseg(infer(in + " --domain auto --adapt-method tent --output " + quoted(tmp_ / "checked")));
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  const auto c = nlohmann::json::parse(slurp(tmp_ / "checked" / "plain.json"))["adaptation"];
  EXPECT_EQ(c["method"], "tent");
  EXPECT_DOUBLE_EQ(c["min_change"].get<double>(), 0.2);  // the default
  EXPECT_EQ(c["min_change_from"], "default");
  const auto passes = [](const nlohmann::json& check, const nlohmann::json& candidate) {
    return candidate["entropy"].get<double>() < check["entropy_source"].get<double>() &&
           1.0 - candidate["agreement"].get<double>() >= check["min_change"].get<double>();
  };
  EXPECT_EQ(c["kept"].get<bool>(), passes(c, c["candidates"][0])) << c;
  EXPECT_GE(c["agreement"].get<double>(), 0.0);
  EXPECT_FALSE(c["reason"].get<std::string>().empty());
  // Several methods (the default): every candidate's score, and the one kept.
  const Result two = medseg(infer(in + " --domain auto --output " + quoted(tmp_ / "two")));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const auto t = nlohmann::json::parse(slurp(tmp_ / "two" / "plain.json"))["adaptation"];
  EXPECT_EQ(t["method"], "prior,adabn");
  ASSERT_EQ(t["candidates"].size(), 2u) << t;
  EXPECT_EQ(t["candidates"][0]["method"], "prior");
  EXPECT_EQ(t["candidates"][1]["method"], "adabn");
  // Kept when a candidate passes; then the passing one with the lowest entropy.
  double lowest_passing = 2.0;
  for (const auto& candidate : t["candidates"]) {
    if (passes(t, candidate)) lowest_passing = std::min(lowest_passing, candidate["entropy"].get<double>());
  }
  EXPECT_EQ(t["kept"].get<bool>(), lowest_passing < 2.0) << t;
  EXPECT_EQ(t.contains("chosen"), t["kept"].get<bool>()) << t;
  if (t["kept"].get<bool>()) {
    EXPECT_DOUBLE_EQ(t["entropy_adapted"].get<double>(), lowest_passing);
  }
  // --adapt-min-change 0: entropy alone, the lowest of all candidates.
  const Result alone = medseg(infer(in + " --domain auto --adapt-min-change 0 --output " + quoted(tmp_ / "alone")));
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  const auto e = nlohmann::json::parse(slurp(tmp_ / "alone" / "plain.json"))["adaptation"];
  const double lowest = std::min(e["candidates"][0]["entropy"].get<double>(), e["candidates"][1]["entropy"].get<double>());
  EXPECT_DOUBLE_EQ(e["entropy_adapted"].get<double>(), lowest);
  EXPECT_EQ(e["kept"].get<bool>(), lowest < e["entropy_source"].get<double>()) << e;
  EXPECT_EQ(e["layers"], 0);  // the default: every layer
  // --adapt-layers: accepted and recorded (what it adapts: adaptation_test.cpp).
  const Result first =
      medseg(infer(in + " --domain auto --no-adapt-check --adapt-method adabn --adapt-layers 2 --output " +
                   quoted(tmp_ / "first")));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto f = nlohmann::json::parse(slurp(tmp_ / "first" / "plain.json"))["adaptation"];
  EXPECT_EQ(f["layers"], 2);
  EXPECT_EQ(f["kept"], true);
  for (const std::string flags : {" --adapt-method bn", " --adapt-method prior,prior", " --adapt-method prior,",
                                   " --adapt-min-change 1.5", " --adapt-min-change -0.1", " --adapt-layers -1",
                                   " --adapt-layers 1000"}) {
    const Result bad_method = medseg(infer(in + " --domain auto" + flags + " --output " + quoted(tmp_ / "u")));
    EXPECT_EQ(bad_method.exit_code, 2) << flags;
    EXPECT_EQ(count_lines(bad_method.err), 1) << bad_method.err;
    EXPECT_NE(bad_method.err.find("adapt-"), std::string::npos) << bad_method.err;
    EXPECT_FALSE(fs::exists(tmp_ / "u" / "plain.nrrd")) << flags;
  }
  ASSERT_TRUE(fs::exists(tmp_ / "auto" / "plain_prob_1.nrrd"));
  const Volume p = pipeline::read_volume(tmp_ / "auto" / "plain_prob_1.nrrd");
  EXPECT_EQ(p.geometry.size, (std::array<std::int64_t, 3>{10, 12, 8}));
  EXPECT_GE(p.data.min().item<float>(), 0.0f);
  EXPECT_LE(p.data.max().item<float>(), 1.0f);
  const Result bad = medseg(infer(in + " --domain scanner_z --output " + quoted(tmp_ / "z")));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("scanner_z"), std::string::npos) << bad.err;
}

// A bundle carrying its own threshold (model.yaml adaptation.min_change):
// the check uses it, the report says so, and --adapt-min-change overrides it.
TEST_F(InferCli, TheModelsAdaptationThresholdIsUsedAndReported) {
  const std::string in = quoted(tmp_ / "in" / "plain.nrrd");
  std::filesystem::copy(tmp_ / "bundle", tmp_ / "carrying");
  std::ofstream(tmp_ / "carrying" / "model.yaml", std::ios::app) << "adaptation:\n  min_change: 0.0\n";
  const std::string model = " --model " + quoted(tmp_ / "carrying") + " --precision fp32 --domain auto";
  const Result by_model = medseg("infer" + model + " " + in + " --output " + quoted(tmp_ / "by_model"));
  ASSERT_EQ(by_model.exit_code, 0) << by_model.err;
  const auto m = nlohmann::json::parse(slurp(tmp_ / "by_model" / "plain.json"))["adaptation"];
  EXPECT_DOUBLE_EQ(m["min_change"].get<double>(), 0.0);
  EXPECT_EQ(m["min_change_from"], "model");
  // Entropy alone decides with a threshold of 0.
  EXPECT_EQ(m["kept"].get<bool>(), m["entropy_adapted"].get<double>() < m["entropy_source"].get<double>()) << m;
  const Result by_option =
      medseg("infer" + model + " " + in + " --adapt-min-change 0.3 --output " + quoted(tmp_ / "by_option"));
  ASSERT_EQ(by_option.exit_code, 0) << by_option.err;
  const auto o = nlohmann::json::parse(slurp(tmp_ / "by_option" / "plain.json"))["adaptation"];
  EXPECT_DOUBLE_EQ(o["min_change"].get<double>(), 0.3);
  EXPECT_EQ(o["min_change_from"], "option");
  // A bad value in the bundle: one line naming the file and key, nothing written.
  std::string yaml = slurp(tmp_ / "carrying" / "model.yaml");
  yaml.replace(yaml.find("min_change: 0.0"), 15, "min_change: 2");
  std::ofstream(tmp_ / "carrying" / "model.yaml", std::ios::trunc) << yaml;
  const Result bad = medseg("infer" + model + " " + in + " --output " + quoted(tmp_ / "bad"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("adaptation.min_change"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("model.yaml"), std::string::npos) << bad.err;
  EXPECT_TRUE(!std::filesystem::exists(tmp_ / "bad") || std::filesystem::is_empty(tmp_ / "bad"));
}

// A bundle carrying its own policy (model.yaml adaptation.methods / .check):
// --domain auto follows it, the report and `model info` say so, the command
// line overrides it, and a bad entry is one line naming file and key.
TEST_F(InferCli, TheModelsAdaptationPolicyIsUsedAndReported) {
  const std::string in = quoted(tmp_ / "in" / "plain.nrrd");
  std::filesystem::copy(tmp_ / "bundle", tmp_ / "carrying");
  std::ofstream(tmp_ / "carrying" / "model.yaml", std::ios::app) << "adaptation:\n  methods: [tent]\n  check: false\n";
  const Result info = medseg("model info " + quoted(tmp_ / "carrying"));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("--domain auto tries tent (this model's); used without the check (this model's)"),
            std::string::npos)
      << info.out;
  const std::string model = " --model " + quoted(tmp_ / "carrying") + " --precision fp32 --domain auto";
  const Result by_model = medseg("infer" + model + " " + in + " --output " + quoted(tmp_ / "by_model"));
  ASSERT_EQ(by_model.exit_code, 0) << by_model.err;
  const auto m = nlohmann::json::parse(slurp(tmp_ / "by_model" / "plain.json"))["adaptation"];
  EXPECT_EQ(m["method"], "tent");
  EXPECT_EQ(m["method_from"], "model");
  EXPECT_EQ(m["checked"], false);
  EXPECT_EQ(m["checked_from"], "model");
  EXPECT_EQ(m["kept"], true);
  EXPECT_FALSE(m.contains("min_change")) << m;
  EXPECT_EQ(m["prior_windows"], 16);  // medseg's defaults: the bundle names none
  EXPECT_DOUBLE_EQ(m["prior_strength"].get<double>(), 16.0);
  // --adapt-check and --adapt-method override the model's.
  const Result by_option = medseg("infer" + model + " " + in + " --adapt-check --adapt-method prior --output " +
                                  quoted(tmp_ / "by_option"));
  ASSERT_EQ(by_option.exit_code, 0) << by_option.err;
  const auto o = nlohmann::json::parse(slurp(tmp_ / "by_option" / "plain.json"))["adaptation"];
  EXPECT_EQ(o["method"], "prior");
  EXPECT_EQ(o["method_from"], "option");
  EXPECT_EQ(o["checked"], true);
  EXPECT_EQ(o["checked_from"], "option");
  EXPECT_EQ(o["min_change_from"], "default");
  ASSERT_EQ(o["candidates"].size(), 1u) << o;
  // `model info` says what prior's numbers mean and whose each is: first
  // the model's windows with medseg's strength (16 / (16 + 32) = 0.33), then
  // the model's strength 0 too.
  const std::pair<std::string, std::string> prior_settings[] = {
      {"  prior_windows: 32\n",
       "prior draws 32 windows (this model's) and gives the model's statistics 0.33 of the weight (strength 16, "
       "medseg's default)"},
      {"  prior_strength: 0\n", "prior draws 32 windows (this model's) and uses the scan's statistics alone (this "
                                "model's)"}};
  for (const auto& [line, expected] : prior_settings) {
    std::ofstream(tmp_ / "carrying" / "model.yaml", std::ios::app) << line;
    const Result info_now = medseg("model info " + quoted(tmp_ / "carrying"));
    ASSERT_EQ(info_now.exit_code, 0) << info_now.err;
    EXPECT_NE(info_now.out.find(expected), std::string::npos) << line << info_now.out;
  }
  // --adapt-windows / --adapt-prior-strength: used and reported; bad values refused in one line.
  const Result drawn = medseg("infer" + model + " " + in + " --adapt-windows 6 --adapt-prior-strength 0 --output " +
                              quoted(tmp_ / "drawn"));
  ASSERT_EQ(drawn.exit_code, 0) << drawn.err;
  const auto d = nlohmann::json::parse(slurp(tmp_ / "drawn" / "plain.json"))["adaptation"];
  EXPECT_EQ(d["prior_windows"], 6);
  EXPECT_DOUBLE_EQ(d["prior_strength"].get<double>(), 0.0);
  for (const std::string flags : {" --adapt-windows 1", " --adapt-windows 4097", " --adapt-prior-strength -1",
                                  " --adapt-prior-strength 2e6", " --adapt-windows x"}) {
    const Result bad_prior = medseg("infer" + model + " " + in + flags + " --output " + quoted(tmp_ / "p"));
    EXPECT_EQ(bad_prior.exit_code, 2) << flags;
    EXPECT_EQ(count_lines(bad_prior.err), 1) << bad_prior.err;
    EXPECT_NE(bad_prior.err.find("adapt-"), std::string::npos) << bad_prior.err;
    EXPECT_FALSE(fs::exists(tmp_ / "p" / "plain.nrrd")) << flags;
  }
  const Result both = medseg("infer" + model + " " + in + " --adapt-check --no-adapt-check --output " +
                             quoted(tmp_ / "both"));
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_EQ(count_lines(both.err), 1) << both.err;
  // A method name medseg does not know, in the bundle.
  std::string yaml = slurp(tmp_ / "carrying" / "model.yaml");
  yaml.replace(yaml.find("methods: [tent]"), 15, "methods: [bn]");
  std::ofstream(tmp_ / "carrying" / "model.yaml", std::ios::trunc) << yaml;
  const Result bad = medseg("infer" + model + " " + in + " --output " + quoted(tmp_ / "bad"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("adaptation.methods"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("model.yaml"), std::string::npos) << bad.err;
  EXPECT_TRUE(!std::filesystem::exists(tmp_ / "bad") || std::filesystem::is_empty(tmp_ / "bad"));
}

TEST_F(InferCli, AdaptWritesABundleWithTheNewDomainThatInferUses) {
  const Result r = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain scanner_c " + quoted(tmp_ / "in") +
                          " --output " + quoted(tmp_ / "adapted"));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const models::Bundle adapted = models::load_bundle(tmp_ / "adapted");
  EXPECT_EQ(adapted.info.domains, (std::vector<std::string>{"scanner_a", "scanner_b", "scanner_c"}));
  EXPECT_EQ(adapted.info.architecture.norm().num_domains(), 3);
  ASSERT_EQ(adapted.info.provenance.notes.size(), 1u);
  EXPECT_NE(adapted.info.provenance.notes[0].find("scanner_c"), std::string::npos);
  EXPECT_EQ(adapted.info.provenance.metrics, models::read_bundle_info(tmp_ / "bundle").provenance.metrics);
  const Result infer_new = medseg("infer --model " + quoted(tmp_ / "adapted") + " --domain scanner_c " +
                                  quoted(tmp_ / "in" / "plain.nrrd") + " --output " + quoted(tmp_ / "out"));
  EXPECT_EQ(infer_new.exit_code, 0) << infer_new.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp_ / "out" / "plain.json"))["domain"], "scanner_c");
  // An existing name is refused before anything is read or written.
  const Result again = medseg("adapt --model " + quoted(tmp_ / "adapted") + " --domain scanner_b " +
                              quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "adapted2"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(count_lines(again.err), 1) << again.err;
  EXPECT_NE(again.err.find("already has a domain named 'scanner_b'"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(tmp_ / "adapted2"));
  // TENT would change the scale/shift every domain shares: not offered here.
  const Result tent = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain t --adapt-method tent " +
                             quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "adapted3"));
  EXPECT_EQ(tent.exit_code, 2) << tent.err;
  EXPECT_FALSE(fs::exists(tmp_ / "adapted3"));
  // --adapt-layers: the note says how many; more than the model has is refused.
  const Result some = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain s --adapt-layers 2 " +
                             quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "adapted4"));
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_NE(models::load_bundle(tmp_ / "adapted4").info.provenance.notes.at(0).find("first 2 batch-norm layers"),
            std::string::npos);
  const Result too_many = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain s --adapt-layers 99 " +
                                 quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "adapted5"));
  EXPECT_EQ(too_many.exit_code, 2) << too_many.err;
  EXPECT_EQ(count_lines(too_many.err), 1) << too_many.err;
  EXPECT_NE(too_many.err.find("batch-norm layers"), std::string::npos) << too_many.err;
  EXPECT_FALSE(fs::exists(tmp_ / "adapted5"));
  // --adapt-windows / --adapt-prior-strength: recorded in the note, and they
  // change the new domain's statistics; out-of-range values are refused.
  EXPECT_NE(adapted.info.provenance.notes[0].find("(16 windows per volume, prior strength 16)"), std::string::npos)
      << adapted.info.provenance.notes[0];
  // Each flag alone changes the new domain's statistics (same name, same
  // images, same seed as `adapted`).
  const auto adapted_with = [&](const std::string& flags, const std::string& folder) {
    const Result run = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain scanner_c" + flags + " " +
                              quoted(tmp_ / "in") + " --output " + quoted(tmp_ / folder));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return models::load_bundle(tmp_ / folder);
  };
  const auto differs_from_default = [&](const models::Bundle& other) {
    const auto theirs = adapted.model->named_buffers();
    for (const auto& b : other.model->named_buffers()) {
      if (!at::equal(b.value(), theirs[b.key()])) return true;
    }
    return false;
  };
  const models::Bundle fewer = adapted_with(" --adapt-windows 4", "adapted6");
  EXPECT_NE(fewer.info.provenance.notes.at(0).find("(4 windows per volume, prior strength 16)"), std::string::npos)
      << fewer.info.provenance.notes.at(0);
  EXPECT_TRUE(differs_from_default(fewer));
  const models::Bundle alone = adapted_with(" --adapt-prior-strength 0", "adapted8");
  EXPECT_NE(alone.info.provenance.notes.at(0).find("(16 windows per volume, prior strength 0)"), std::string::npos)
      << alone.info.provenance.notes.at(0);
  EXPECT_TRUE(differs_from_default(alone));
  for (const std::string flags : {" --adapt-windows 1", " --adapt-prior-strength -1"}) {
    const Result bad = medseg("adapt --model " + quoted(tmp_ / "bundle") + " --domain w" + flags + " " +
                              quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "adapted7"));
    EXPECT_EQ(bad.exit_code, 2) << flags;
    EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
    EXPECT_NE(bad.err.find("adapt-"), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(tmp_ / "adapted7")) << flags;
  }
}

TEST_F(InferCli, AdaptRefusesInstanceNormBundles) {
  TinyBundleSpec spec;
  spec.norm = models::NormKind::kInstance;
  save_tiny_bundle(tmp_ / "instance", spec);
  const Result r = medseg("adapt --model " + quoted(tmp_ / "instance") + " --domain x " + quoted(tmp_ / "in") +
                          " --output " + quoted(tmp_ / "adapted"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nothing to adapt"), std::string::npos) << r.err;
}

// A reference saved as a detached NRRD (.nhdr header + gzip'd data file, as
// 3D Slicer and ITK-SNAP can write) is matched to its prediction by case id.
TEST(EvaluateCli, MatchesDetachedNrrdReferencesByCaseId) {
  CliTempDir dir;
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  Volume labels = blob_volume({10, 12, 8}, {1.0, 1.2, 2.0}, {5, 6, 7}, kIdentity);
  labels.data = (labels.data > labels.data.mean()).to(at::kFloat);
  pipeline::write_volume(labels, dir / "pred/case7.nii.gz", pipeline::PixelType::kUInt8);
  pipeline::write_volume(labels, dir / "attached.nrrd", pipeline::PixelType::kUInt8);
  // Our .nrrd is header, blank line, gzip'd voxels: split it in two files.
  const std::string nrrd = slurp(dir / "attached.nrrd");
  const std::size_t end = nrrd.find("\n\n");
  ASSERT_NE(end, std::string::npos);
  write_text(dir / "ref/case7.nhdr", nrrd.substr(0, end + 1) + "data file: case7.raw.gz\n");
  write_text(dir / "ref/case7.raw.gz", nrrd.substr(end + 2));
  ASSERT_TRUE(at::equal(pipeline::read_volume(dir / "ref/case7.nhdr").data, labels.data));
  const Result r = medseg("evaluate --pred " + quoted(dir / "pred") + " --ref " + quoted(dir / "ref"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("no prediction"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("no reference"), std::string::npos) << r.out;
  EXPECT_NE(slurp(dir / "pred/evaluation.csv").find("case7,1,1,"), std::string::npos);  // Dice 1
}

// Run with oneDNN capped below bf16, as on a CPU without native bf16: auto
// picks fp32 (same labels as fp32), an explicit bf16 still segments every
// case but warns once per process, not once per case.
TEST_F(InferCli, PrecisionAutoAvoidsEmulatedBf16AndExplicitBf16WarnsOnce) {
  const std::string capped = "ONEDNN_MAX_CPU_ISA=AVX512_CORE '" + std::string(MEDSEG_BINARY) + "' infer --model " +
                             quoted(tmp_ / "bundle") + " " + quoted(tmp_ / "in");
  const Result automatic = run(capped + " --output " + quoted(tmp_ / "auto"));
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_EQ(automatic.err.find("warning"), std::string::npos) << automatic.err;
  const Result fp32 = medseg(infer(quoted(tmp_ / "in") + " --output " + quoted(tmp_ / "fp32")));
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  for (const char* id : {"oblique", "plain"}) {
    const auto report = nlohmann::json::parse(slurp(tmp_ / "auto" / (std::string(id) + ".json")));
    EXPECT_EQ(report["precision"], "fp32") << id;
    EXPECT_EQ(report["options"]["precision"], "auto") << id;
  }
  EXPECT_EQ(slurp(tmp_ / "auto" / "plain.nrrd"), slurp(tmp_ / "fp32" / "plain.nrrd"));

  const Result bf16 = run(capped + " --precision bf16 --output " + quoted(tmp_ / "bf16"));
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(count_lines(bf16.err), 1) << bf16.err;
  EXPECT_NE(bf16.err.find("medseg: warning: bf16 requested"), std::string::npos) << bf16.err;
  EXPECT_NE(bf16.out.find("2 done, 0 skipped, 0 failed"), std::string::npos) << bf16.out;
  const auto report = nlohmann::json::parse(slurp(tmp_ / "bf16" / "oblique.json"));
  EXPECT_EQ(report["precision"], "bf16");
}

}  // namespace
}  // namespace medseg::test
