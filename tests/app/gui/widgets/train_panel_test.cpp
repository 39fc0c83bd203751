// The Train panel (QTest, offscreen) with the real `medseg train` on tiny
// synthetic configs: a bad config shows its error line; a run plots exactly
// what its log.jsonl holds and offers its best bundle; Stop leaves a
// checkpoint that Resume finishes; a run outlives the panel that started it
// and a new panel follows it.
#include <QLabel>
#include <QLineSeries>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QTextBlock>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/gui/widgets/train_panel.h"
#include "models/bundle.h"
#include "tests/app/train_run_helpers.h"
#include "tests/common/temp_dir.h"

using namespace medseg::gui;
using medseg::test::read_log;
namespace fs = std::filesystem;

namespace {

// Seconds per run, and every label appears (tests/app/train_cli_test.cpp).
std::string tiny_config(int epochs, int iterations) {
  return "dataset:\n"
         "  synthetic: {count: 2, size: 16, spacing: 4.0, profiles: [scanner_a, scanner_b], seed: 1}\n"
         "  num_folds: 2\n"
         "model: {base_features: 4, depth: 2, deep_supervision: true}\n"
         "training:\n"
         "  epochs: " + std::to_string(epochs) + "\n"
         "  iterations_per_epoch: " + std::to_string(iterations) + "\n"
         "  batch_size: 2\n"
         "  patch_size: [16, 16, 16]\n"
         "  seed: 3\n"
         "  threads: 1\n"
         "validation: {every: 2}\noutput: run\n";
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

constexpr int kRunTimeoutMs = 180000;

// Complete lines of a log that may be half-written right now.
std::size_t complete_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::size_t lines = 0;
  for (char c; in.get(c);) lines += c == '\n';
  return lines;
}

}  // namespace

class TrainPanelTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void badConfigShowsTheErrorLine() {
    medseg::test::TempDir dir;
    // Line 8 is the bad value.
    std::string config = tiny_config(2, 2);
    config.replace(config.find("batch_size: 2"), 13, "batch_size: -3");
    write(dir / "bad.yaml", config);
    TrainPanel panel(MEDSEG_BINARY);
    QVERIFY(!panel.open_config(QString::fromStdString((dir / "bad.yaml").string())));
    const QString message = panel.message_label()->text();
    QVERIFY2(message.contains(QStringLiteral("batch_size")) && message.contains(QStringLiteral("line 8")),
             qPrintable(message));
    const auto marks = panel.config_view()->extraSelections();
    QCOMPARE(marks.size(), 1);
    QCOMPARE(marks.front().cursor.block().blockNumber(), 7);
    QVERIFY(marks.front().cursor.block().text().contains(QStringLiteral("batch_size: -3")));
    QVERIFY(!panel.start_button()->isEnabled());
    QVERIFY(!panel.resume_button()->isEnabled());
  }

  void runPlotsItsLogAndOffersTheBestBundle() {
    medseg::test::TempDir dir;
    write(dir / "config.yaml", tiny_config(4, 6));
    TrainPanel panel(MEDSEG_BINARY);
    QSignalSpy ready(&panel, &TrainPanel::bundle_ready);
    QSignalSpy errors(&panel, &TrainPanel::error_reported);
    QVERIFY(panel.open_config(QString::fromStdString((dir / "config.yaml").string())));
    QVERIFY(panel.start_button()->isEnabled());
    QVERIFY(panel.start(false));
    QVERIFY(panel.running());
    QVERIFY(panel.stop_button()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!panel.running(), kRunTimeoutMs);
    QCOMPARE(errors.count(), 0);
    QCOMPARE(ready.count(), 1);
    QCOMPARE(ready.front().front().toString(), QString::fromStdString((dir / "run" / "model_best").string()));

    const auto log = read_log(dir / "run" / "log.jsonl");
    QCOMPARE(log.size(), std::size_t{4});
    const auto loss = panel.loss_series()->points();
    QCOMPARE(loss.size(), 4);
    for (int e = 0; e < 4; ++e) {
      QCOMPARE(loss[e].x(), log[static_cast<std::size_t>(e)].at("epoch").get<double>());
      QCOMPARE(loss[e].y(), log[static_cast<std::size_t>(e)].at("train_loss").get<double>());
    }
    // Validation every 2 epochs: per-label Dice and the mean at epochs 2 and 4.
    const auto& dice = log[3].at("validation_dice");
    QCOMPARE(panel.dice_series().size(), dice.size() + 1);
    for (std::size_t k = 0; k <= dice.size(); ++k) {
      const auto points = panel.dice_series()[k]->points();
      QCOMPARE(points.size(), 2);
      QCOMPARE(points[1].x(), 4.0);
      const double expected =
          k < dice.size() ? dice[k].get<double>() : log[3].at("mean_validation_dice").get<double>();
      QCOMPARE(points[1].y(), expected);
    }
    // Named from the run's bundle (the synthetic dataset's label names).
    const auto labels = medseg::models::read_bundle_info(dir / "run" / "model_best").labels;
    QCOMPARE(labels.size(), dice.size() + 1);
    QCOMPARE(panel.dice_series()[0]->name(), QStringLiteral("1 %1").arg(QString::fromStdString(labels[1].name)));
    // Done: the folder holds a checkpoint now, so only Resume is offered.
    QVERIFY(!panel.start_button()->isEnabled());
    QVERIFY(!panel.stop_button()->isEnabled());
    QVERIFY(!fs::exists(training_pid_file(dir / "run")));
  }

  void stopThenResumeFromAnotherPanel() {
    medseg::test::TempDir dir;
    const int epochs = 6;
    write(dir / "config.yaml", tiny_config(epochs, 12));
    const QString config = QString::fromStdString((dir / "config.yaml").string());
    auto panel = std::make_unique<TrainPanel>(MEDSEG_BINARY);
    QVERIFY(panel->open_config(config));
    QVERIFY(panel->start(false));
    // On a fast CPU the whole tiny run takes less than the panel's 500 ms
    // poll, so Stop could arrive after the last epoch (seen in CI). The test
    // freezes the run (SIGSTOP) as soon as the first epoch's checkpoint
    // exists (it is written after that epoch's log line; without it there
    // is nothing to resume); SIGTERM from Stop still ends a stopped process,
    // exactly as it ends a running one.
    const pid_t first_pid = *panel->pid();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRunTimeoutMs);
    while (!fs::exists(dir / "run" / "checkpoint.pt") && std::chrono::steady_clock::now() < deadline) {
      QTest::qSleep(2);
    }
    QCOMPARE(::kill(first_pid, SIGSTOP), 0);
    QVERIFY(complete_lines(dir / "run" / "log.jsonl") >= 1);
    panel->stop();
    ::kill(first_pid, SIGCONT);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->running(), 30000);
    QVERIFY2(panel->message_label()->text().startsWith(QStringLiteral("Stopped")),
             qPrintable(panel->message_label()->text()));
    const auto stopped_at = read_log(dir / "run" / "log.jsonl").size();
    QVERIFY(stopped_at >= 1 && stopped_at < static_cast<std::size_t>(epochs));
    QVERIFY(panel->resume_button()->isEnabled());
    QVERIFY(!panel->start_button()->isEnabled());

    // Resume, then close the panel (the GUI quits): the run goes on, and a
    // new panel opening the same config follows it to the end.
    QVERIFY(panel->start(true));
    const pid_t pid = *panel->pid();
    panel.reset();
    TrainPanel follower(MEDSEG_BINARY);
    QSignalSpy ready(&follower, &TrainPanel::bundle_ready);
    QVERIFY(follower.open_config(config));
    QVERIFY(follower.running());
    QCOMPARE(*follower.pid(), pid);
    QTRY_VERIFY_WITH_TIMEOUT(!follower.running(), kRunTimeoutMs);
    QCOMPARE(ready.count(), 1);
    const auto log = read_log(dir / "run" / "log.jsonl");
    QCOMPARE(log.size(), static_cast<std::size_t>(epochs));
    for (int e = 0; e < epochs; ++e) QCOMPARE(log[static_cast<std::size_t>(e)].at("epoch").get<int>(), e + 1);
    QCOMPARE(follower.loss_series()->count(), epochs);
  }
};

QTEST_MAIN(TrainPanelTest)
#include "train_panel_test.moc"
