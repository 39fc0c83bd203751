// `medseg serve` and `medseg pacs fetch` against a real Orthanc (Debian's
// 1.10, started per test in a temporary folder on free 127.0.0.1 ports; see
// orthanc_helper.h): the round trip from Orthanc to the node and back as a
// DICOM SEG that references the source series (checked with Orthanc's REST
// API and with pydicom), and the faults: kill -9 while a case is queued,
// Orthanc down while sending, a truncated instance and an unknown calling AE.
// Every wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "pipeline/io/dicom_series_writer.h"
#include "pipeline/io/volume_reader.h"
#include "tests/app/cli_helpers.h"
#include "tests/app/orthanc_helper.h"
#include "tests/app/train_run_helpers.h"

namespace medseg::test {
namespace {

const fs::path kSource = MEDSEG_SOURCE_DIR;
const fs::path kCt = kSource / "data_samples/ct/head_ct.nii.gz";
const fs::path kCtModel = kSource / "data_samples/models/ct_head";

/// The node's log, tolerating a line being written while we read.
std::vector<nlohmann::json> events(const fs::path& log) {
  std::vector<nlohmann::json> out;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::vector<nlohmann::json> events_named(const fs::path& log, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (auto& e : events(log)) {
    if (e.value("event", "") == name) out.push_back(e);
  }
  return out;
}

std::string dicom_tag(const fs::path& file, const std::string& keyword) {
  const Result r = run("dcmdump +P " + keyword + " " + quoted(file));
  const auto open = r.out.find('[');
  const auto close = r.out.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : r.out.substr(open + 1, close - open - 1);
}

class PacsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    node_port_ = free_port();
    orthanc_ = std::make_unique<Orthanc>(dir_ / "orthanc", std::vector<OrthancModality>{{"medseg", "MEDSEG", node_port_}});
  }
  void TearDown() override {
    if (serve_pid_ > 0) stop_process(serve_pid_, SIGKILL, 5);
    orthanc_.reset();
  }

  /// node.yaml for a node on node_port_ sending to the test's Orthanc.
  fs::path write_config(const std::string& extra_node = {}, const std::string& retry = {}) {
    const fs::path config = dir_ / "node.yaml";
    write_text(config, "node:\n"
                       "  ae_title: MEDSEG\n"
                       "  port: " + std::to_string(node_port_) + "\n"
                       "  accept_calling_ae: [ORTHANC, STORESCU]\n"
                       "  series_complete_seconds: 0.5\n" + extra_node +
                       "queue:\n"
                       "  folder: queue\n"
                       "destination:\n"
                       "  ae_title: ORTHANC\n"
                       "  host: 127.0.0.1\n"
                       "  port: " + std::to_string(orthanc_->dicom_port()) + "\n" +
                       (retry.empty() ? "" : "retry:\n" + retry) +
                       "rules:\n"
                       "  - name: ct_head\n"
                       "    modality: CT\n"
                       "    bundle: " + kCtModel.string() + "\n"
                       "    infer: {precision: fp32}\n");
    return config;
  }
  fs::path log() const { return dir_ / "queue" / "cases.jsonl"; }

  /// Starts `medseg serve` and waits for its node_started line.
  void start_serve(const fs::path& config) {
    const std::size_t before = events_named(log(), "node_started").size();
    serve_pid_ = spawn_medseg({"serve", "--config", config.string()}, dir_ / "serve.out");
    ASSERT_GT(serve_pid_, 0);
    const bool up = wait_until([&] { return events_named(log(), "node_started").size() > before; }, 60);
    ASSERT_TRUE(up) << slurp(dir_ / "serve.out");
  }

  /// The CT sample as a DICOM series (new UIDs each time), written in-process.
  fs::path write_series(const std::string& name) {
    const fs::path folder = dir_ / name;
    pipeline::write_dicom_series(pipeline::read_volume(kCt), folder);
    return folder;
  }

  /// storescu of `files` to host port `port` as `calling_ae`.
  Result store(const std::vector<fs::path>& files, int port, const std::string& calling_ae = "STORESCU",
               const std::string& called_ae = "MEDSEG") {
    std::string command = "TCP_NODELAY=1 storescu -to 20 -ta 20 -td 20 -aet " + calling_ae + " -aec " + called_ae +
                          " 127.0.0.1 " + std::to_string(port);
    for (const auto& f : files) command += " " + quoted(f);
    return run(command);
  }

  /// 24 contiguous slices of a series: a small, realistic case.
  static std::vector<fs::path> slab(const fs::path& series) {
    std::vector<fs::path> files;
    for (int k = 30; k < 54; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "IM%05d.dcm", k);
      files.push_back(series / name);
    }
    return files;
  }

  /// SEG instances in Orthanc for the study of `series_file`.
  std::vector<std::string> segs_of_study(const fs::path& series_file) const {
    return orthanc_->find_instances({{"StudyInstanceUID", dicom_tag(series_file, "StudyInstanceUID")},
                                     {"Modality", "SEG"}});
  }

  TempDir dir_;
  int node_port_ = 0;
  std::unique_ptr<Orthanc> orthanc_;
  pid_t serve_pid_ = -1;
};

// (a) The CT sample goes to Orthanc (storescu), comes back with `medseg
// pacs fetch`, goes from Orthanc to `medseg serve` (REST forward, a C-STORE
// by Orthanc) and returns to Orthanc as a SEG referencing the source.
TEST_F(PacsCli, RoundTripThroughOrthancEndsWithASegReferencingTheSourceSeries) {
  const fs::path series = dir_ / "ct_dicom";
  const Result converted = medseg("convert " + quoted(kCt) + " --to dicom-series --output " + quoted(series));
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(series)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 81u);
  const Result sent = store(files, orthanc_->dicom_port(), "STORESCU", "ORTHANC");
  ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  const std::string study_uid = dicom_tag(files.front(), "StudyInstanceUID");
  const std::string series_uid = dicom_tag(files.front(), "SeriesInstanceUID");

  // Pull: C-FIND + C-GET of the study by its UID.
  const fs::path config = write_config();
  const Result fetched = medseg("pacs fetch --config " + quoted(config) + " --study " + study_uid + " --output " +
                                quoted(dir_ / "fetched") + " --json");
  ASSERT_EQ(fetched.exit_code, 0) << fetched.out << fetched.err;
  const auto summary = nlohmann::json::parse(fetched.out);
  ASSERT_EQ(summary["series"].size(), 1u) << fetched.out;
  EXPECT_EQ(summary["series"][0]["series_uid"], series_uid);
  EXPECT_EQ(summary["retrieved"], 81);
  // The fetched series holds the source's voxels (read independently by ITK).
  const auto a = pipeline::read_volume(series);
  const auto b = pipeline::read_volume(summary["series"][0]["folder"].get<std::string>());
  EXPECT_TRUE(a.data.equal(b.data));

  // Push: Orthanc sends the series to the node, the node sends the SEG back.
  start_serve(config);
  const auto lookup = orthanc_->post("/tools/lookup", series_uid);
  ASSERT_TRUE(lookup.is_array() && !lookup.empty()) << lookup;
  std::string orthanc_series;
  for (const auto& item : lookup) {
    if (item["Type"] == "Series") orthanc_series = item["ID"];
  }
  const auto forwarded = orthanc_->post("/modalities/medseg/store", orthanc_series);
  ASSERT_TRUE(forwarded.is_object()) << orthanc_->log();
  EXPECT_EQ(forwarded["InstancesCount"], 81);
  EXPECT_EQ(forwarded["FailedInstancesCount"], 0);
  ASSERT_TRUE(wait_until([&] { return !segs_of_study(files.front()).empty(); }, 120))
      << slurp(dir_ / "serve.out");
  const auto segs = segs_of_study(files.front());
  ASSERT_EQ(segs.size(), 1u);

  // Orthanc's own parse of the SEG: it references the source series and
  // only instances of it.
  const auto tags = orthanc_->get("/instances/" + segs[0] + "/tags?simplify");
  ASSERT_TRUE(tags.is_object());
  EXPECT_EQ(tags["StudyInstanceUID"], study_uid);
  EXPECT_NE(tags["SeriesInstanceUID"], series_uid);
  ASSERT_EQ(tags["ReferencedSeriesSequence"].size(), 1u);
  EXPECT_EQ(tags["ReferencedSeriesSequence"][0]["SeriesInstanceUID"], series_uid);
  std::set<std::string> source_uids;
  for (const auto& f : files) source_uids.insert(dicom_tag(f, "SOPInstanceUID"));
  const auto& referenced = tags["ReferencedSeriesSequence"][0]["ReferencedInstanceSequence"];
  ASSERT_FALSE(referenced.empty());
  for (const auto& item : referenced) EXPECT_EQ(source_uids.count(item["ReferencedSOPInstanceUID"]), 1u);

  // pydicom's parse of the file Orthanc holds: frames on their source slices.
  write_text(dir_ / "seg.dcm", orthanc_->get_raw("/instances/" + segs[0] + "/file"));
  const Result check =
      run("/usr/bin/python3 " + quoted(kSource / "tests/app/pacs_seg_check.py") + " " + quoted(dir_ / "seg.dcm") +
          " " + quoted(series));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("ok: "), std::string::npos) << check.out;

  const auto sent_events = events_named(log(), "case_sent");
  ASSERT_EQ(sent_events.size(), 1u);
  EXPECT_EQ(sent_events[0]["series_uid"], series_uid);
  EXPECT_EQ(sent_events[0]["seg_sop_instance_uid"], tags["SOPInstanceUID"]);

  // SIGTERM: a clean stop.
  const int status = stop_process(serve_pid_, SIGTERM, 30);
  serve_pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(events_named(log(), "node_stopped").size(), 1u);
}

// (b) kill -9 while a case is queued (being segmented): the restarted node
// finishes it, and Orthanc holds exactly one SEG of it.
TEST_F(PacsCli, KillNineWhileQueuedThenRestartDeliversExactlyOneSeg) {
  const fs::path config = write_config();
  const fs::path series = write_series("ct");
  start_serve(config);
  ASSERT_EQ(store(slab(series), node_port_).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "case_queued").empty(); }, 60)) << slurp(dir_ / "serve.out");
  ::kill(serve_pid_, SIGKILL);
  ::waitpid(serve_pid_, nullptr, 0);
  serve_pid_ = -1;
  // It was killed before sending anything.
  ASSERT_TRUE(events_named(log(), "case_sent").empty()) << "segmented and sent within the polling interval";
  EXPECT_TRUE(segs_of_study(series / "IM00030.dcm").empty());

  start_serve(config);
  const auto resumed = events_named(log(), "case_resumed");
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_TRUE(resumed[0]["state"] == "queued" || resumed[0]["state"] == "segmented") << resumed[0];
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "case_sent").empty(); }, 120)) << slurp(dir_ / "serve.out");
  EXPECT_EQ(segs_of_study(series / "IM00030.dcm").size(), 1u);
  const auto sent = events_named(log(), "case_sent");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["case"], resumed[0]["case"]);
  // Nothing else left to do, nothing received twice.
  EXPECT_EQ(events_named(log(), "case_received").size(), 1u);
  const Result queue = medseg("pacs queue --config " + quoted(config) + " --json");
  ASSERT_EQ(queue.exit_code, 0) << queue.err;
  const auto cases = nlohmann::json::parse(queue.out);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0]["state"], "sent");
  EXPECT_EQ(cases[0]["instances"], 24);
}

// (b) Orthanc is down when the SEG is ready: the node retries with back-off
// and delivers once Orthanc is back, once.
TEST_F(PacsCli, OrthancDownWhileSendingIsRetriedAndDeliveredWhenBack) {
  const fs::path config = write_config({}, "  attempts: 30\n  initial_seconds: 0.5\n  factor: 2\n  max_seconds: 2\n");
  const fs::path series = write_series("ct");
  orthanc_->stop();
  start_serve(config);
  ASSERT_EQ(store(slab(series), node_port_).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return events_named(log(), "case_send_failed").size() >= 2; }, 120))
      << slurp(dir_ / "serve.out");
  const auto failed = events_named(log(), "case_send_failed");
  EXPECT_EQ(failed[0]["attempt"], 1);
  EXPECT_EQ(failed[0]["retry_in_s"], 0.5);
  EXPECT_EQ(failed[1]["retry_in_s"], 1.0);
  EXPECT_NE(failed[0]["reason"].get<std::string>().find("ORTHANC@127.0.0.1"), std::string::npos) << failed[0];

  orthanc_->start();
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "case_sent").empty(); }, 60)) << slurp(dir_ / "serve.out");
  EXPECT_EQ(segs_of_study(series / "IM00030.dcm").size(), 1u);
  const auto sent = events_named(log(), "case_sent");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GE(sent[0]["attempt"].get<int>(), 3);
  EXPECT_TRUE(events_named(log(), "case_failed").empty());
}

// (b) A truncated instance and an unknown calling AE are refused with a
// logged reason; the node keeps serving and a good series still succeeds.
TEST_F(PacsCli, TruncatedInstanceAndUnknownCallingAeAreRefusedAndTheNodeKeepsServing) {
  const fs::path config = write_config();
  const fs::path series = write_series("ct");
  start_serve(config);

  const Result intruder = store({series / "IM00001.dcm"}, node_port_, "INTRUDER");
  EXPECT_NE(intruder.exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "association_refused").empty(); }, 10));
  const auto refused = events_named(log(), "association_refused")[0];
  EXPECT_EQ(refused["calling_ae"], "INTRUDER");
  EXPECT_NE(refused["reason"].get<std::string>().find("accept_calling_ae"), std::string::npos) << refused;

  // One slice whose pixel data is cut to half (written by pydicom, so the
  // file itself is well-formed and storescu sends it).
  const fs::path truncated = dir_ / "truncated.dcm";
  const Result cut = run("/usr/bin/python3 -c \"import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); "
                         "d.PixelData=d.PixelData[:len(d.PixelData)//2]; d.save_as(sys.argv[2])\" " +
                         quoted(series / "IM00002.dcm") + " " + quoted(truncated));
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  store({truncated}, node_port_);  // storescu reports the refusal; the node's log says why
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "instance_refused").empty(); }, 10));
  const auto instance = events_named(log(), "instance_refused")[0];
  EXPECT_EQ(instance["status"], "0xC000");
  EXPECT_NE(instance["reason"].get<std::string>().find("pixel data holds"), std::string::npos) << instance;
  EXPECT_NE(instance["reason"].get<std::string>().find("truncated"), std::string::npos) << instance;
  // Nothing of it was kept.
  EXPECT_TRUE(events_named(log(), "case_received").empty());

  EXPECT_EQ(::waitpid(serve_pid_, nullptr, WNOHANG), 0) << "the node stopped";
  ASSERT_EQ(store(slab(series), node_port_).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return !events_named(log(), "case_sent").empty(); }, 120)) << slurp(dir_ / "serve.out");
  EXPECT_EQ(segs_of_study(series / "IM00030.dcm").size(), 1u);
  EXPECT_EQ(events_named(log(), "case_queued")[0]["instances"], 24);
}

// Optional DICOM TLS (DCMTK dcmtls + OpenSSL): with node.tls the SCP stores
// an instance sent over TLS with a certificate our CA signed, and refuses
// plain DICOM and a certificate it does not trust (certificates made by the
// openssl command line tool).
TEST(PacsTls, OnlyTlsWithATrustedClientCertificateIsServed) {
  TempDir dir;
  const std::string ssl = "openssl req -newkey rsa:2048 -nodes -days 1 -subj ";
  ASSERT_EQ(run("cd " + quoted(dir.path()) + " && " + ssl + "/CN=ca -x509 -keyout ca.key -out ca.pem && " + ssl +
                "/CN=node -keyout node.key -out node.csr && openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key "
                "-CAcreateserial -out node.pem -days 1 && " + ssl + "/CN=client -keyout client.key -out client.csr && "
                "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 && " +
                ssl + "/CN=rogue -x509 -keyout rogue.key -out rogue.pem")
                .exit_code,
            0);
  const int port = free_port();
  write_text(dir / "node.yaml", "node:\n  ae_title: MEDSEG\n  port: " + std::to_string(port) +
                                    "\n  accept_calling_ae: [STORESCU]\n  series_complete_seconds: 60\n"
                                    "  tls: {certificate: node.pem, private_key: node.key, trusted_certificates: [ca.pem]}\n"
                                    "queue: {folder: queue}\ndestination: {ae_title: ORTHANC, host: 127.0.0.1, port: 1}\n"
                                    "rules:\n  - {name: ct, modality: CT, bundle: " + kCtModel.string() + "}\n");
  const fs::path log = dir / "queue" / "cases.jsonl";
  const pid_t pid = spawn_medseg({"serve", "--config", (dir / "node.yaml").string()}, dir / "serve.out");
  ASSERT_TRUE(wait_until([&] { return !events_named(log, "node_started").empty(); }, 60)) << slurp(dir / "serve.out");
  const fs::path series = dir / "ct";
  pipeline::write_dicom_series(pipeline::read_volume(kCt), series);
  const std::string send = "TCP_NODELAY=1 storescu -to 20 -ta 20 -td 20 -aet STORESCU -aec MEDSEG ";
  const std::string target = " 127.0.0.1 " + std::to_string(port) + " " + quoted(series / "IM00001.dcm");
  const std::string in = "cd " + quoted(dir.path()) + " && ";
  EXPECT_EQ(run(in + send + "+tls client.key client.pem +cf ca.pem" + target).exit_code, 0);
  EXPECT_NE(run(in + send + target).exit_code, 0);
  EXPECT_NE(run(in + send + "+tls rogue.key rogue.pem +cf ca.pem" + target).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return events_named(log, "association_failed").size() >= 2; }, 20));
  stop_process(pid, SIGTERM, 30);
  const auto stored = events_named(log, "association");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0]["stored"], 1);
  const auto failed = events_named(log, "association_failed");
  EXPECT_NE(failed[1]["reason"].get<std::string>().find("certificate verify failed"), std::string::npos) << failed[1];
}

TEST(PacsConfig, ErrorsNameFileKeyAndLineWithExitCodeTwo) {
  TempDir dir;
  const fs::path config = dir / "node.yaml";
  write_text(config, "node:\n  ae_title: MEDSEG\n  port: 11112\n  accept_calling_ae: [ORTHANC]\n  colour: blue\n"
                     "queue: {folder: q}\nrules:\n  - {name: a, bundle: " + kCtModel.string() + "}\n");
  Result r = medseg("serve --config " + quoted(config) + " --check");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("node.yaml', key 'node.colour', line 5: unknown key"), std::string::npos) << r.err;

  write_text(config, "node:\n  ae_title: A_TITLE_LONGER_THAN_16\n  port: 11112\n  accept_calling_ae: [ORTHANC]\n"
                     "queue: {folder: q}\nrules:\n  - {name: a, bundle: " + kCtModel.string() + "}\n");
  r = medseg("serve --config " + quoted(config));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key 'node.ae_title', line 2: AE title 'A_TITLE_LONGER_THAN_16' is longer than 16"),
            std::string::npos)
      << r.err;

  write_text(config, "node:\n  ae_title: MEDSEG\n  port: 11112\n  accept_calling_ae: [ORTHANC]\n"
                     "queue: {folder: q}\nrules:\n  - name: a\n    body_part: '(HEAD'\n    bundle: " +
                         kCtModel.string() + "\n");
  r = medseg("serve --config " + quoted(config));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key 'rules[0].body_part', line 8: invalid regular expression"), std::string::npos) << r.err;

  write_text(config, "node:\n  ae_title: MEDSEG\n  port: 11112\n  accept_calling_ae: [ORTHANC]\n"
                     "queue: {folder: q}\nrules:\n  - {name: a, bundle: " + (dir / "nowhere").string() + "}\n");
  r = medseg("serve --config " + quoted(config) + " --check");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key 'rules[0].bundle', line 7: bundle '"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

}  // namespace
}  // namespace medseg::test
