// Over 500 lines on purpose: one QTest executable (one QApplication, one
// process start of ~1 s for Debian's LibTorch) holds every widget test, each
// slot a scenario from the issue (orientation, pixel truth, segmentation,
// brush + undo, save, error dialogs, DICOM picker).
// medseg-gui widget tests (QTest, offscreen): what the user sees and does,
// checked against the logic layer and the pipeline.
#include <ATen/ATen.h>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QMessageBox>
#include <QMimeData>
#include <QUrl>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMouseEvent>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSlider>
#include <QWheelEvent>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <atomic>

#include <filesystem>
#include <fstream>
#include <functional>

#include "app/gui/logic/pipeline_facade.h"
#include "app/gui/logic/scan_session.h"
#include "app/gui/widgets/dicom_series_dialog.h"
#include "app/gui/widgets/histogram_view.h"
#include "app/gui/widgets/main_window.h"
#include "app/gui/widgets/slice_view.h"
#include "models/bundle.h"
#include "core/error.h"
#include "app/gui/widgets/job_runner.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"
#include "tests/app/gui/test_volumes.h"
#include "tests/pipeline/common/dicom_series_writer.h"

using namespace medseg;
using namespace medseg::gui;
namespace fs = std::filesystem;

namespace {

const fs::path kSource = MEDSEG_SOURCE_DIR;

/// Handles every modal dialog that opens (error boxes, the DICOM series
/// picker) while it lives: records its object name and text, then lets
/// `handle` answer it (default: close it).
class ModalWatcher {
 public:
  explicit ModalWatcher(std::function<void(QWidget*)> handle = {}) : handle_(std::move(handle)) {
    QObject::connect(&timer_, &QTimer::timeout, [this] {
      QWidget* w = QApplication::activeModalWidget();
      if (!w || !w->isVisible()) return;
      names.push_back(w->objectName());
      if (auto* box = qobject_cast<QMessageBox*>(w)) texts.push_back(box->text());
      if (handle_) {
        handle_(w);
      } else if (auto* dialog = qobject_cast<QDialog*>(w)) {
        dialog->reject();
      }
    });
    timer_.start(20);
  }
  QStringList names;
  QStringList texts;

 private:
  std::function<void(QWidget*)> handle_;
  QTimer timer_;
};

void send_mouse(QWidget* w, QEvent::Type type, QPoint pos, Qt::MouseButton button, Qt::MouseButtons buttons,
                Qt::KeyboardModifiers modifiers = Qt::NoModifier) {
  QMouseEvent event(type, QPointF(pos), QPointF(w->mapToGlobal(pos)), button, buttons, modifiers);
  QApplication::sendEvent(w, &event);
}

/// A volume whose geometry says LPS or RAS storage, a bright cube around
/// patient position (+6 L, -6 (= 6 anterior), +6 S) mm, 0 elsewhere.
pipeline::Volume marker_volume(bool ras) {
  const std::array<double, 9> dir = ras ? std::array<double, 9>{-1, 0, 0, 0, -1, 0, 0, 0, 1}
                                        : std::array<double, 9>{1, 0, 0, 0, 1, 0, 0, 0, 1};
  pipeline::Volume v = gui::test::zero_volume(gui::test::centred_geometry({21, 21, 21}, {1, 1, 1}, dir, {10, 10, 10}));
  const SliceGeometry g(v.geometry);
  const auto c = g.patient_to_voxel({6.0, -6.0, 6.0});
  auto a = v.data.accessor<float, 3>();
  for (int k = -1; k <= 1; ++k)
    for (int j = -1; j <= 1; ++j)
      for (int i = -1; i <= 1; ++i) a[std::lround(c[2]) + k][std::lround(c[1]) + j][std::lround(c[0]) + i] = 1000.f;
  v.source_path = ras ? "marker_ras" : "marker_lps";
  return v;
}

bool is_white(QRgb p) { return qRed(p) > 200 && qGreen(p) > 200 && qBlue(p) > 200; }

/// Centroid of the white pixels of a grabbed view relative to the centre of
/// its image rectangle (x right, y down), and their count.
std::tuple<double, double, int> white_centroid(SliceView* view) {
  const QImage image = view->grab().toImage();
  const QPointF centre = view->image_rect().center();
  double sx = 0, sy = 0;
  int n = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x)
      if (is_white(image.pixel(x, y))) {
        sx += x + 0.5 - centre.x();
        sy += y + 0.5 - centre.y();
        ++n;
      }
  return {n ? sx / n : 0.0, n ? sy / n : 0.0, n};
}

std::array<std::int64_t, 3> rounded(const std::array<double, 3>& v) {
  return {std::llround(v[0]), std::llround(v[1]), std::llround(v[2])};
}

}  // namespace

class WidgetsTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  // The job runner: work on another thread, the continuation on the UI
  // thread, errors as one message, Cancel through the progress callback.
  void jobRunnerRunsOffTheUiThreadAndCancels() {
    JobRunner runner;
    QSignalSpy finished(&runner, &JobRunner::finished);
    QThread* worker = nullptr;
    QThread* continuation = nullptr;
    QVERIFY(runner.start(QStringLiteral("ok"), [&](const JobRunner::Progress& progress) {
      worker = QThread::currentThread();
      progress(1.0);
      return JobRunner::Continuation([&] { continuation = QThread::currentThread(); });
    }));
    QVERIFY(!runner.start(QStringLiteral("second"), {}));  // one job at a time
    QVERIFY(finished.wait(5000));
    QCOMPARE(finished.last().at(0).toBool(), true);
    QVERIFY(worker != nullptr && worker != QApplication::instance()->thread());
    QCOMPARE(continuation, QApplication::instance()->thread());

    QVERIFY(runner.start(QStringLiteral("fails"), [](const JobRunner::Progress&) -> JobRunner::Continuation {
      throw IoError("cannot read 'x': broken");
    }));
    QVERIFY(finished.wait(5000));
    QCOMPARE(finished.last().at(2).toString(), QStringLiteral("cannot read 'x': broken"));

    // A job that only stops when its progress callback says so.
    std::atomic<int> calls{0};
    QVERIFY(runner.start(QStringLiteral("endless"), [&calls](const JobRunner::Progress& progress) {
      while (progress(0.5)) {
        ++calls;
        QThread::msleep(1);
      }
      throw Cancelled("cancelled");
      return JobRunner::Continuation();
    }));
    QTRY_VERIFY(calls.load() > 10);
    runner.cancel();
    QVERIFY(finished.wait(5000));
    QCOMPARE(finished.last().at(1).toBool(), true);
    QVERIFY(!runner.busy());
  }

  // Radiological display: patient left on screen right, anterior up in
  // axial, superior up in coronal/sagittal, anterior left in sagittal;
  // whatever the file's storage order.
  void markerLandsInTheRightQuadrantForRasAndLps_data() {
    QTest::addColumn<bool>("ras");
    QTest::newRow("LPS") << false;
    QTest::newRow("RAS") << true;
  }
  void markerLandsInTheRightQuadrantForRasAndLps() {
    QFETCH(bool, ras);
    MainWindow window(kSource / "data_samples" / "models");
    window.resize(1200, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    pipeline::Volume v = marker_volume(ras);
    const auto marker = rounded(SliceGeometry(v.geometry).patient_to_voxel({6.0, -6.0, 6.0}));
    window.open_volume(std::move(v));
    window.session()->set_window(WindowLevel(1000, 500));
    window.session()->set_crosshair(marker);

    struct Expect {
      ViewKind kind;
      double x_sign, y_sign;
      std::array<const char*, 4> letters;
    };
    const Expect expects[] = {{ViewKind::kAxial, +1, -1, {"R", "L", "A", "P"}},
                              {ViewKind::kCoronal, +1, -1, {"R", "L", "S", "I"}},
                              {ViewKind::kSagittal, -1, -1, {"A", "P", "S", "I"}}};
    for (const Expect& e : expects) {
      SliceView* view = window.view(e.kind);
      const auto [x, y, n] = white_centroid(view);
      QVERIFY2(n > 20, view_name(e.kind));
      // 6 mm of a 21 mm field: well away from the centre.
      const double min_offset = view->image_rect().width() / 21.0 * 3.0;
      QVERIFY2(x * e.x_sign > min_offset, qPrintable(QStringLiteral("%1 x %2").arg(view_name(e.kind)).arg(x)));
      QVERIFY2(y * e.y_sign > min_offset, qPrintable(QStringLiteral("%1 y %2").arg(view_name(e.kind)).arg(y)));
      const auto letters = view->edge_letters();
      for (int s = 0; s < 4; ++s) QCOMPARE(letters[s], QString::fromLatin1(e.letters[s]));
      // The letters are drawn: orange pixels near the right edge's middle.
      const QImage image = view->grab().toImage();
      int orange = 0;
      for (int y2 = image.height() / 2 - 15; y2 < image.height() / 2 + 15; ++y2)
        for (int x2 = image.width() - 25; x2 < image.width(); ++x2) {
          const QRgb p = image.pixel(x2, y2);
          if (qRed(p) > 200 && qGreen(p) > 100 && qGreen(p) < 220 && qBlue(p) < 80) ++orange;
        }
      QVERIFY2(orange > 5, view_name(e.kind));
    }

    // View > Neurological: patient left on screen left in axial and coronal.
    auto* neuro = window.findChild<QAction*>(QStringLiteral("neurologicalAction"));
    QVERIFY(neuro);
    neuro->trigger();
    for (ViewKind kind : {ViewKind::kAxial, ViewKind::kCoronal}) {
      QCOMPARE(window.view(kind)->edge_letters()[0], QStringLiteral("L"));
      const auto [x, y, n] = white_centroid(window.view(kind));
      QVERIFY2(n > 20 && x < 0, view_name(kind));
    }
    const auto [sx, sy, sn] = white_centroid(window.view(ViewKind::kSagittal));
    QVERIFY(sn > 20 && sx < 0);  // sagittal unchanged: anterior on the left
  }

  // A click moves the crosshair to the voxel under the mouse; the grey drawn
  // there is the voxel's value through the window (WindowLevel's formula),
  // and a preset from the combo changes it as documented.
  void clickedPixelShowsTheVoxelThroughTheWindow() {
    MainWindow window(kSource / "data_samples" / "models");
    window.resize(1200, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    pipeline::Volume v = gui::test::zero_volume(gui::test::lps_geometry({20, 16, 12}, {1.0, 1.5, 2.0}));
    auto a = v.data.accessor<float, 3>();
    for (int k = 0; k < 12; ++k)
      for (int j = 0; j < 16; ++j)
        for (int i = 0; i < 20; ++i) a[k][j][i] = static_cast<float>(i * 7 + j * 3 + k * 11 - 100);
    window.open_volume(v);
    SliceView* view = window.view(ViewKind::kAxial);
    const QRectF r = view->image_rect();
    const QPoint click(static_cast<int>(r.left() + 0.3 * r.width()), static_cast<int>(r.top() + 0.6 * r.height()));
    QTest::mouseClick(view, Qt::LeftButton, Qt::NoModifier, click);
    const auto c = window.session()->crosshair();
    const auto px = view->widget_to_pixel(QPointF(click));
    const auto expected_voxel = rounded(window.session()->geometry().screen_to_voxel(
        ViewKind::kAxial, px[0], px[1], static_cast<double>(window.session()->slice(ViewKind::kAxial))));
    QCOMPARE(c, expected_voxel);
    const float value = a[c[2]][c[1]][c[0]];
    auto grey_at_click = [&] {
      const QRgb p = view->grab().toImage().pixel(click);
      return std::array<int, 3>{qRed(p), qGreen(p), qBlue(p)};
    };
    const int auto_grey = window.session()->window().grey(value);
    QCOMPARE(grey_at_click(), (std::array<int, 3>{auto_grey, auto_grey, auto_grey}));

    // The hovered voxel goes to the status bar.
    send_mouse(view, QEvent::MouseMove, click, Qt::NoButton, Qt::NoButton);
    QVERIFY2(window.status_label()->text().contains(
                 QStringLiteral("voxel (%1, %2, %3)").arg(c[0]).arg(c[1]).arg(c[2])),
             qPrintable(window.status_label()->text()));

    // CT brain preset: W 80, L 40 -> grey = clamp(floor((x - 0) * 255 / 80 + 0.5), 0, 255).
    QComboBox* combo = window.preset_combo();
    const int brain = combo->findData(QStringLiteral("brain"));
    QVERIFY(brain >= 0);
    combo->setCurrentIndex(brain);
    Q_EMIT combo->activated(brain);
    QCOMPARE(window.session()->window().width(), 80.0);
    QCOMPARE(window.session()->window().level(), 40.0);
    const int brain_grey =
        static_cast<int>(std::clamp(std::floor((static_cast<double>(value) - 0.0) * 255.0 / 80.0 + 0.5), 0.0, 255.0));
    QCOMPARE(grey_at_click(), (std::array<int, 3>{brain_grey, brain_grey, brain_grey}));

    // The histogram spans the scan's values; a click in it moves the level
    // there and keeps the width.
    HistogramView* histogram = window.histogram();
    QVERIFY(histogram->isVisible());
    QVERIFY(histogram->minimum() >= -100.0 && histogram->minimum() < -90.0);
    QVERIFY(histogram->maximum() > 180.0 && histogram->maximum() <= 199.0);  // values -100..199
    const int x = static_cast<int>(std::lround(histogram->x_of(150.0)));
    QTest::mouseClick(histogram, Qt::LeftButton, Qt::NoModifier, QPoint(x, histogram->height() / 2));
    QCOMPARE(window.session()->window().width(), 80.0);
    QVERIFY(std::abs(window.session()->window().level() - 150.0) < (histogram->maximum() - histogram->minimum()) / 100);
  }

  // The bundled CT sample segmented in the GUI: Cancel leaves the labels
  // alone; a full run gives exactly pipeline::Segmenter's labels while the
  // UI thread keeps processing events; the result is one undo step.
  void segmentsTheCtSampleLikeTheSegmenterWithoutBlockingTheUi() {
    MainWindow window(kSource / "data_samples" / "models");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QString scan_path = QString::fromStdString((kSource / "data_samples/ct/head_ct.nii.gz").string());
    window.open_path(scan_path);
    QTRY_VERIFY_WITH_TIMEOUT(!window.jobs().busy(), 30000);
    QVERIFY(window.session());
    QVERIFY(window.set_bundle(QString::fromStdString((kSource / "data_samples/models/ct_head").string())));
    window.precision_combo()->setCurrentIndex(window.precision_combo()->findData(QStringLiteral("fp32")));
    window.tta_check()->setChecked(false);
    window.domain_combo()->setCurrentIndex(0);
    const at::Tensor before = window.session()->labels().clone();

    QSignalSpy progress(&window.jobs(), &JobRunner::progressed);
    QSignalSpy finished(&window.jobs(), &JobRunner::finished);
    // Cancel as soon as the first progress report arrives.
    QElapsedTimer cancel_clock;
    cancel_clock.start();
    window.run_segmentation();
    QVERIFY(window.jobs().busy());
    QVERIFY(progress.wait(30000));
    QTest::mouseClick(window.cancel_button(), Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QCOMPARE(finished.last().at(1).toBool(), true);  // cancelled
    const double cancel_seconds = cancel_clock.elapsed() / 1000.0;
    QVERIFY(at::equal(window.session()->labels(), before));
    QVERIFY(!window.session()->can_undo());

    int ticks = 0;
    QTimer ticker;
    QObject::connect(&ticker, &QTimer::timeout, [&ticks] { ++ticks; });
    ticker.start(10);
    finished.clear();
    QElapsedTimer clock;
    clock.start();
    window.run_segmentation();
    QVERIFY(finished.wait(120000));
    const double seconds = clock.elapsed() / 1000.0;
    ticker.stop();
    QCOMPARE(finished.last().at(0).toBool(), true);
    qInfo("cancelled run: %.2f s, full run: %.2f s, %d timer ticks", cancel_seconds, seconds, ticks);
    // Cancel stopped the work itself (through the progress callback), not
    // just its result: the cancelled run ended well before a full one.
    QVERIFY2(cancel_seconds < 0.6 * seconds, qPrintable(QStringLiteral("%1 s vs %2 s").arg(cancel_seconds).arg(seconds)));
    // The timer kept firing during the run: at least a third of its ticks.
    QVERIFY2(ticks > seconds * 100 / 3, qPrintable(QStringLiteral("%1 ticks in %2 s").arg(ticks).arg(seconds)));

    SegmentRequest request;
    request.bundle = kSource / "data_samples/models/ct_head";
    request.domain = window.domain_combo()->currentData().toString().toStdString();
    request.precision = pipeline::Precision::kFp32;
    const pipeline::Segmenter segmenter(models::load_bundle(request.bundle));
    const auto reference =
        segmenter.segment({pipeline::read_volume(scan_path.toStdString())}, segment_options(request, {}));
    const at::Tensor expected = reference.labels.data.to(at::kShort);
    QVERIFY(at::equal(window.session()->labels(), expected));
    QVERIFY(window.session()->labels().ne(0).sum().item<std::int64_t>() > 1000);
    QCOMPARE(window.session()->editor().history().undo_count(), std::size_t{1});
    QVERIFY(window.statistics_table()->rowCount() >= 2);
    window.undo_action()->trigger();
    QVERIFY(at::equal(window.session()->labels(), before));
    window.redo_action()->trigger();
    QVERIFY(at::equal(window.session()->labels(), expected));

    // Dice against the sample's reference labels, and the CSV export.
    QVERIFY(window.load_reference(
        QString::fromStdString((kSource / "data_samples/ct/head_ct_labels.nii.gz").string())));
    QCOMPARE(window.statistics_table()->rowCount(), 2);
    for (int r = 0; r < 2; ++r) {
      const double dice = window.statistics_table()->item(r, 5)->text().toDouble();
      QVERIFY2(dice > 0.8 && dice <= 1.0, qPrintable(window.statistics_table()->item(r, 5)->text()));
    }
    if (qEnvironmentVariableIsSet("MEDSEG_GUI_TEST_GRABS")) {  // look at the panels by eye
      auto* tabs = window.findChild<QTabWidget*>();
      for (int t = 0; t < tabs->count(); ++t) {
        tabs->setCurrentIndex(t);
        window.grab().save(QStringLiteral("%1/tab%2.png").arg(qEnvironmentVariable("MEDSEG_GUI_TEST_GRABS")).arg(t));
      }
    }
    QTemporaryDir dir;
    const QString csv = dir.filePath(QStringLiteral("stats.csv"));
    QVERIFY(window.export_statistics(csv));
    std::ifstream in(csv.toStdString());
    std::string header, bone;
    std::getline(in, header);
    std::getline(in, bone);
    QCOMPARE(QString::fromStdString(header), QStringLiteral("label,name,voxels,volume_ml,mean,sd,reference_voxels,dice"));
    QVERIFY2(QString::fromStdString(bone).startsWith(QStringLiteral("1,bone,")), bone.c_str());

    // With manual edits the GUI asks before replacing them; "No" keeps them.
    window.session()->begin_stroke(ViewKind::kAxial, BrushOptions{});
    window.session()->paint_at(10, 10);
    window.session()->end_stroke();
    const at::Tensor edited = window.session()->labels().clone();
    {
      ModalWatcher watcher([](QWidget* w) {
        auto* box = qobject_cast<QMessageBox*>(w);
        if (box) box->button(QMessageBox::No)->click();
      });
      window.run_segmentation();
      QCOMPARE(watcher.names, QStringList{QStringLiteral("questionDialog")});
      QVERIFY(!window.jobs().busy());
      QVERIFY(at::equal(window.session()->labels(), edited));
    }

    // Adapt (AdaBN) to this scan: a new bundle with one more domain, selected.
    finished.clear();
    const QString adapted = dir.filePath(QStringLiteral("ct_head_gui"));
    window.adapt_model(QStringLiteral("gui_scanner"), adapted);
    QVERIFY(window.jobs().busy());
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.last().at(0).toBool(), true);
    const auto info = models::read_bundle_info(adapted.toStdString());
    QCOMPARE(info.domains.back(), std::string("gui_scanner"));
    QCOMPARE(window.bundle_combo()->currentData().toString(), adapted);
    QCOMPARE(window.domain_combo()->currentData().toString(), QStringLiteral("gui_scanner"));

    // "auto (adapt to this scan)" is offered for this batch-norm model and runs.
    const int auto_index = window.domain_combo()->findData(QStringLiteral("auto"));
    QVERIFY(auto_index >= 0);
    window.domain_combo()->setCurrentIndex(auto_index);
    window.session()->undo();  // the stroke: the labels are the model's last result again, no question
    QVERIFY(at::equal(window.session()->labels(), expected));
    finished.clear();
    {
      ModalWatcher watcher;
      window.run_segmentation();
      QVERIFY(finished.wait(120000));
      QVERIFY(watcher.names.isEmpty());
    }
    QCOMPARE(finished.last().at(0).toBool(), true);
    QVERIFY(window.session()->labels().eq(1).sum().item<std::int64_t>() > 1000);
  }

  // Wheel / PgUp / PgDn change the slice, right-drag zooms, middle-drag
  // pans, r resets, Ctrl+left-drag changes window/level, double-click
  // maximises one view and restores the layout.
  void mouseAndKeysNavigate() {
    MainWindow window(kSource / "data_samples" / "models");
    window.resize(1200, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.open_volume(gui::test::zero_volume(gui::test::lps_geometry({30, 30, 20}, {1, 1, 1})));
    ScanSession* s = window.session();
    SliceView* view = window.view(ViewKind::kAxial);
    const QPoint centre = view->rect().center();
    const std::int64_t slice = s->slice(ViewKind::kAxial);
    QWheelEvent wheel(QPointF(centre), QPointF(view->mapToGlobal(centre)), QPoint(), QPoint(0, 240), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(view, &wheel);
    QCOMPARE(s->slice(ViewKind::kAxial), slice + 2);
    QTest::keyClick(view, Qt::Key_PageDown);
    QCOMPARE(s->slice(ViewKind::kAxial), slice + 1);
    QTest::keyClick(view, Qt::Key_PageUp);
    QCOMPARE(s->slice(ViewKind::kAxial), slice + 2);

    // Zoom about the point where the drag starts: the scan point there stays.
    const QPoint anchor = centre + QPoint(60, -40);
    const auto anchored = view->widget_to_pixel(QPointF(anchor));
    send_mouse(view, QEvent::MouseButtonPress, anchor, Qt::RightButton, Qt::RightButton);
    send_mouse(view, QEvent::MouseMove, anchor - QPoint(0, 50), Qt::NoButton, Qt::RightButton);
    send_mouse(view, QEvent::MouseButtonRelease, anchor - QPoint(0, 50), Qt::RightButton, Qt::NoButton);
    QVERIFY(view->zoom() > 1.5);
    const auto still = view->widget_to_pixel(QPointF(anchor));
    QVERIFY(std::abs(still[0] - anchored[0]) < 1e-6 && std::abs(still[1] - anchored[1]) < 1e-6);
    QTest::keyClick(view, Qt::Key_R);
    send_mouse(view, QEvent::MouseButtonPress, centre, Qt::MiddleButton, Qt::MiddleButton);
    send_mouse(view, QEvent::MouseMove, centre + QPoint(30, 10), Qt::NoButton, Qt::MiddleButton);
    send_mouse(view, QEvent::MouseButtonRelease, centre + QPoint(30, 10), Qt::MiddleButton, Qt::NoButton);
    QCOMPARE(view->pan(), QPointF(30, 10));
    QWheelEvent zoom_wheel(QPointF(centre), QPointF(view->mapToGlobal(centre)), QPoint(), QPoint(0, 120),
                           Qt::NoButton, Qt::ControlModifier, Qt::NoScrollPhase, false);
    const double zoom_before = view->zoom();
    QApplication::sendEvent(view, &zoom_wheel);
    QCOMPARE(view->zoom(), zoom_before * 1.25);  // Ctrl+wheel zooms, the slice stays
    QCOMPARE(s->slice(ViewKind::kAxial), slice + 2);
    QTest::keyClick(view, Qt::Key_R);
    QCOMPARE(view->zoom(), 1.0);
    QCOMPARE(view->pan(), QPointF(0, 0));

    const WindowLevel w0 = s->window();
    send_mouse(view, QEvent::MouseButtonPress, centre, Qt::LeftButton, Qt::LeftButton, Qt::ControlModifier);
    send_mouse(view, QEvent::MouseMove, centre + QPoint(100, -50), Qt::NoButton, Qt::LeftButton, Qt::ControlModifier);
    send_mouse(view, QEvent::MouseButtonRelease, centre + QPoint(100, -50), Qt::LeftButton, Qt::NoButton,
               Qt::ControlModifier);
    QVERIFY(s->window().width() > w0.width());  // right: wider
    QVERIFY(s->window().level() > w0.level());  // up: higher level
    QCOMPARE(window.preset_combo()->currentData().toString(), QStringLiteral("custom"));
    QCOMPARE(s->crosshair(), (std::array<std::int64_t, 3>{15, 15, slice + 2}));  // W/L drag leaves the crosshair

    // Shift + move (no button) moves the crosshair, as in 3D Slicer.
    const QPoint shift_pos = view->pixel_to_widget(3, 4).toPoint();
    send_mouse(view, QEvent::MouseMove, shift_pos, Qt::NoButton, Qt::NoButton, Qt::ShiftModifier);
    QCOMPARE(s->crosshair()[0], std::int64_t{3});
    QCOMPARE(s->crosshair()[1], std::int64_t{4});

    QTest::mouseDClick(view, Qt::LeftButton, Qt::NoModifier, centre);
    QVERIFY(view->isVisible());
    QVERIFY(!window.view(ViewKind::kCoronal)->isVisible());
    QVERIFY(!window.view(ViewKind::kSagittal)->isVisible());
    QTest::mouseDClick(view, Qt::LeftButton, Qt::NoModifier, centre);
    QVERIFY(window.view(ViewKind::kCoronal)->isVisible());
    QVERIFY(window.view(ViewKind::kSagittal)->isVisible());
  }

  // The label table's eye hides a label; the opacity slider blends by the
  // documented formula; outline mode keeps the inside grey.
  void labelVisibilityOpacityAndOutline() {
    MainWindow window(kSource / "data_samples" / "models");
    window.resize(1200, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    pipeline::Volume v = gui::test::zero_volume(gui::test::lps_geometry({20, 20, 5}, {1, 1, 1}));
    at::Tensor labels = at::zeros({5, 20, 20}, at::kShort);
    labels.slice(1, 5, 15).slice(2, 5, 15).fill_(1);
    window.open_volume(v, labels);
    ScanSession* s = window.session();
    s->set_window(WindowLevel(100, 50));  // 0 -> black
    SliceView* view = window.view(ViewKind::kAxial);
    const QPoint inside = view->pixel_to_widget(12, 8).toPoint();  // away from the crosshair lines
    auto pixel = [&] { return view->grab().toImage().pixel(inside); };
    const auto colour = s->describe(1).color;
    auto blend = [](int c, int a) { return (c * a + 127) / 255; };  // grey 0 under the label
    QCOMPARE(window.label_table()->rowCount(), 1);
    const int alpha50 = static_cast<int>(std::lround(0.5 * 255));
    QCOMPARE(qRed(pixel()), blend(colour[0], alpha50));

    QSlider* slider = window.findChild<QSlider*>(QStringLiteral("opacitySlider"));
    QVERIFY(slider);
    slider->setValue(100);
    QCOMPARE(qRed(pixel()), int{colour[0]});
    QCOMPARE(qGreen(pixel()), int{colour[1]});

    window.label_table()->item(0, 0)->setCheckState(Qt::Unchecked);
    QVERIFY(!s->describe(1).visible);
    QCOMPARE(pixel(), qRgb(0, 0, 0));
    window.label_table()->item(0, 0)->setCheckState(Qt::Checked);
    QCOMPARE(qRed(pixel()), int{colour[0]});

    // Clicking a label's name makes it the brush's paint label.
    window.brush_label_spin()->setValue(5);
    QTableWidget* table = window.label_table();
    QTest::mouseClick(table->viewport(), Qt::LeftButton, Qt::NoModifier, table->visualItemRect(table->item(0, 3)).center());
    QCOMPARE(window.brush_label_spin()->value(), 1);

    // Renaming in the table names the label everywhere (statistics, CSV).
    table->item(0, 3)->setText(QStringLiteral("lesion"));
    QCOMPARE(s->describe(1).name, std::string("lesion"));
    QTRY_COMPARE(window.statistics_table()->item(0, 1)->text(), QStringLiteral("lesion"));

    view->set_outline(true);
    QCOMPARE(pixel(), qRgb(0, 0, 0));  // inside the label: scan only
    const QPoint edge = view->pixel_to_widget(5, 8).toPoint();
    const QRgb e = view->grab().toImage().pixel(edge);
    QCOMPARE(e, qRgb(colour[0], colour[1], colour[2]));
  }

  // Brush strokes from mouse drags, Ctrl+Z / Ctrl+Shift+Z: exact bytes
  // back, statistics follow.
  void brushUndoRedoRestoreTheExactBytes() {
    MainWindow window(kSource / "data_samples" / "models");
    window.resize(1200, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QApplication::setActiveWindow(&window);
    pipeline::Volume v = gui::test::zero_volume(gui::test::lps_geometry({40, 30, 10}, {0.8, 0.8, 2.0}));
    v.data.fill_(100.0f);
    window.open_volume(v);
    ScanSession* s = window.session();
    window.brush_radio()->setChecked(true);
    window.radius_spin()->setValue(2.0);
    window.brush_label_spin()->setValue(3);
    SliceView* view = window.view(ViewKind::kAxial);
    const QRectF r = view->image_rect();
    const QPoint p1(static_cast<int>(r.left() + 0.2 * r.width()), static_cast<int>(r.center().y()));
    const QPoint p2(static_cast<int>(r.left() + 0.7 * r.width()), static_cast<int>(r.center().y()));
    const at::Tensor empty = s->labels().clone();
    send_mouse(view, QEvent::MouseButtonPress, p1, Qt::LeftButton, Qt::LeftButton);
    send_mouse(view, QEvent::MouseMove, p2, Qt::NoButton, Qt::LeftButton);
    send_mouse(view, QEvent::MouseButtonRelease, p2, Qt::LeftButton, Qt::NoButton);
    const at::Tensor painted = s->labels().clone();
    const std::int64_t count = painted.eq(3).sum().item<std::int64_t>();
    QVERIFY(count > 50);  // a ~20 mm long, 4 mm wide stroke of 0.8 mm voxels
    QCOMPARE(painted.ne(0).sum().item<std::int64_t>(), count);
    // Only the axial slice under the crosshair is painted.
    QCOMPARE(painted.select(0, s->slice(ViewKind::kAxial)).eq(3).sum().item<std::int64_t>(), count);
    auto stats_voxels = [&] {
      for (const auto& row : s->statistics())
        if (row.label == 3) return row.voxels;
      return std::int64_t{0};
    };
    QCOMPARE(stats_voxels(), count);
    QCOMPARE(window.statistics_table()->rowCount(), 1);
    QCOMPARE(window.statistics_table()->item(0, 2)->text(), QString::number(count));

    // A second stroke: the eraser over part of the first.
    window.eraser_radio()->setChecked(true);
    send_mouse(view, QEvent::MouseButtonPress, p2, Qt::LeftButton, Qt::LeftButton);
    send_mouse(view, QEvent::MouseButtonRelease, p2, Qt::LeftButton, Qt::NoButton);
    const at::Tensor erased = s->labels().clone();
    QVERIFY(erased.eq(3).sum().item<std::int64_t>() < count);

    QCOMPARE(window.undo_action()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Z));
    QCOMPARE(window.redo_action()->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z));
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(at::equal(s->labels(), painted));
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(at::equal(s->labels(), empty));
    QCOMPARE(stats_voxels(), std::int64_t{0});
    QCOMPARE(window.statistics_table()->rowCount(), 0);
    QVERIFY(!window.undo_action()->isEnabled());
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QVERIFY(at::equal(s->labels(), painted));
    QCOMPARE(stats_voxels(), count);
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QVERIFY(at::equal(s->labels(), erased));

    // Remove small islands: the strokes (well under 1 mL) go, as one undo step.
    auto* islands = window.findChild<QPushButton*>(QStringLiteral("removeIslandsButton"));
    QVERIFY(islands);
    islands->click();
    QCOMPARE(s->labels().ne(0).sum().item<std::int64_t>(), std::int64_t{0});
    window.undo_action()->trigger();
    QVERIFY(at::equal(s->labels(), erased));

    // An intensity range with min > max: the logic layer refuses the stroke,
    // the window shows why and goes on.
    window.brush_radio()->setChecked(true);
    window.findChild<QCheckBox*>(QStringLiteral("rangeCheck"))->setChecked(true);
    window.findChild<QDoubleSpinBox*>(QStringLiteral("rangeMin"))->setValue(200);
    window.findChild<QDoubleSpinBox*>(QStringLiteral("rangeMax"))->setValue(150);
    {
      ModalWatcher watcher;
      send_mouse(view, QEvent::MouseButtonPress, p1, Qt::LeftButton, Qt::LeftButton);
      send_mouse(view, QEvent::MouseButtonRelease, p1, Qt::LeftButton, Qt::NoButton);
      QCOMPARE(watcher.names, QStringList{QStringLiteral("errorDialog")});
    }
    QVERIFY(!s->editor().stroke_active());
    QVERIFY(at::equal(s->labels(), erased));
    // Where the eraser went: a range that excludes the scan (all 100) paints
    // nothing; one that includes it paints.
    window.findChild<QDoubleSpinBox*>(QStringLiteral("rangeMin"))->setValue(101);
    window.findChild<QDoubleSpinBox*>(QStringLiteral("rangeMax"))->setValue(300);
    send_mouse(view, QEvent::MouseButtonPress, p2, Qt::LeftButton, Qt::LeftButton);
    send_mouse(view, QEvent::MouseButtonRelease, p2, Qt::LeftButton, Qt::NoButton);
    QVERIFY(at::equal(s->labels(), erased));
    window.findChild<QDoubleSpinBox*>(QStringLiteral("rangeMin"))->setValue(100);
    send_mouse(view, QEvent::MouseButtonPress, p2, Qt::LeftButton, Qt::LeftButton);
    send_mouse(view, QEvent::MouseButtonRelease, p2, Qt::LeftButton, Qt::NoButton);
    QVERIFY(!at::equal(s->labels(), erased));
  }

  // Saved label maps keep the scan's exact grid (NIfTI and NRRD), with the
  // label table beside them.
  void savedLabelsKeepTheScansGeometry() {
    MainWindow window(kSource / "data_samples" / "models");
    window.show();
    QTemporaryDir dir;
    // An oblique, RAS-like grid with an odd origin.
    const double c = std::cos(0.3), sn = std::sin(0.3);
    pipeline::Geometry g = gui::test::centred_geometry({17, 13, 9}, {0.7, 0.9, 2.5}, {-c, -sn, 0, sn, -c, 0, 0, 0, 1},
                                                  {8, 6, 4});
    g.origin[0] += 12.25;
    g.origin[2] -= 40.5;
    pipeline::Volume v = gui::test::zero_volume(g);
    window.open_volume(v);
    window.session()->begin_stroke(ViewKind::kAxial, BrushOptions{});
    window.session()->paint_at(5, 5);
    window.session()->end_stroke();
    for (const char* name : {"labels.nii.gz", "labels.nrrd"}) {
      const QString path = dir.filePath(QString::fromLatin1(name));
      QVERIFY(window.save_labels(path));
      const pipeline::Volume back = pipeline::read_label_map(path.toStdString());
      QCOMPARE(back.geometry.size, g.size);
      for (int d = 0; d < 3; ++d) {
        QVERIFY(std::abs(back.geometry.spacing[d] - g.spacing[d]) < 1e-5);
        QVERIFY(std::abs(back.geometry.origin[d] - g.origin[d]) < 1e-4);
      }
      for (int d = 0; d < 9; ++d) QVERIFY(std::abs(back.geometry.direction[d] - g.direction[d]) < 1e-5);
      QVERIFY(at::equal(back.data.to(at::kShort), window.session()->labels()));
      std::ifstream csv(label_table_path(path.toStdString()));
      std::string header, first;
      std::getline(csv, header);
      std::getline(csv, first);
      QCOMPARE(QString::fromStdString(header), QStringLiteral("label,name,r,g,b"));
      QVERIFY(QString::fromStdString(first).startsWith(QStringLiteral("1,")));
    }

    // File > Save labels writes on the worker thread, from the labels as
    // they were when it started (a stroke meanwhile is not in the file).
    const at::Tensor at_save = window.session()->labels().clone();
    const QString background = dir.filePath(QStringLiteral("background.nii.gz"));
    window.save_labels_in_background(background);
    QVERIFY(window.jobs().busy());
    window.session()->begin_stroke(ViewKind::kAxial, BrushOptions{});
    window.session()->paint_at(2, 2);
    window.session()->end_stroke();
    QTRY_VERIFY_WITH_TIMEOUT(!window.jobs().busy(), 20000);
    QVERIFY(at::equal(pipeline::read_label_map(background.toStdString()).data.to(at::kShort), at_save));
    QVERIFY(!at::equal(window.session()->labels(), at_save));
    window.undo_action()->trigger();

    // Loading it back: the same voxels, one more undo step.
    const at::Tensor saved = window.session()->labels().clone();
    window.undo_action()->trigger();
    QVERIFY(window.load_labels(dir.filePath(QStringLiteral("labels.nii.gz"))));
    QVERIFY(at::equal(window.session()->labels(), saved));
    window.undo_action()->trigger();
    window.read_labels_in_background(dir.filePath(QStringLiteral("labels.nii.gz")), false);  // File > Load labels
    QVERIFY(window.jobs().busy());
    QTRY_VERIFY_WITH_TIMEOUT(!window.jobs().busy(), 20000);
    QVERIFY(at::equal(window.session()->labels(), saved));
    // A map of the same size on another grid (shifted 5 mm) is refused.
    pipeline::Volume shifted;
    shifted.data = saved.to(at::kFloat);
    shifted.geometry = g;
    shifted.geometry.origin[1] += 5.0;
    const QString other = dir.filePath(QStringLiteral("shifted.nii.gz"));
    save_label_map(saved, shifted.geometry, other.toStdString(), {});
    ModalWatcher watcher;
    QVERIFY(!window.load_labels(other));
    QCOMPARE(watcher.names.size(), 1);
    QVERIFY2(watcher.texts[0].contains(QStringLiteral("grid")), qPrintable(watcher.texts[0]));
    QVERIFY(!window.load_reference(other));
    window.read_labels_in_background(other, true);
    QTRY_COMPARE_WITH_TIMEOUT(watcher.names.size(), 3, 20000);
    QVERIFY(at::equal(window.session()->labels(), saved));
  }

  // Files the readers refuse give one error dialog with the reader's
  // message; the window stays usable.
  void unreadableInputShowsAnErrorAndTheAppStaysUsable() {
    MainWindow window(kSource / "data_samples" / "models");
    window.show();
    QTemporaryDir dir;
    const QString garbage = dir.filePath(QStringLiteral("x.nii.gz"));
    {
      std::ofstream out(garbage.toStdString(), std::ios::binary);
      for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 7919) & 0xff));
    }
    const QString folder = dir.filePath(QStringLiteral("no_dicom"));
    fs::create_directories(folder.toStdString());
    std::ofstream(folder.toStdString() + "/notes.txt") << "not a DICOM file\n";

    ModalWatcher watcher;
    window.open_path(garbage);
    QTRY_VERIFY_WITH_TIMEOUT(watcher.names.size() == 1, 20000);
    QCOMPARE(watcher.names[0], QStringLiteral("errorDialog"));
    QVERIFY2(watcher.texts[0].contains(QStringLiteral("x.nii.gz")), qPrintable(watcher.texts[0]));
    QVERIFY(!window.session());

    window.open_path(folder);
    QTRY_VERIFY_WITH_TIMEOUT(watcher.names.size() == 2, 20000);
    QCOMPARE(watcher.names[1], QStringLiteral("errorDialog"));
    QVERIFY(!watcher.texts[1].isEmpty());
    QTRY_VERIFY(!window.jobs().busy());

    // Still usable: the CT sample opens.
    window.open_path(QString::fromStdString((kSource / "data_samples/ct/head_ct.nii.gz").string()));
    QTRY_VERIFY_WITH_TIMEOUT(window.session() != nullptr, 20000);
    QCOMPARE(window.session()->scan().geometry.size, (std::array<std::int64_t, 3>{122, 122, 81}));
    QCOMPARE(watcher.names.size(), 2);
  }

  // Dropping a file on the window opens it.
  void droppedFileOpens() {
    MainWindow window(kSource / "data_samples" / "models");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(QString::fromStdString((kSource / "data_samples/mri/t1.nii.gz").string()))});
    const QPoint pos = window.rect().center();
    QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(pos), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &drop);
    QTRY_VERIFY_WITH_TIMEOUT(window.session() != nullptr, 20000);
    QVERIFY(window.session()->scan().source_path.find("t1.nii.gz") != std::string::npos);
  }

  // A folder with two DICOM series: the picker lists both and the chosen
  // one is read.
  void dicomFolderWithTwoSeriesAsksWhichOne() {
    MainWindow window(kSource / "data_samples" / "models");
    window.show();
    QTemporaryDir dir;
    const fs::path root = dir.path().toStdString();
    medseg::test::DicomSeriesSpec a;
    a.positions = {{0, 0, 0}, {0, 0, 2}, {0, 0, 4}, {0, 0, 6}};
    a.series_uid = "1.2.826.0.1.3680043.2.1125.777.1";
    medseg::test::DicomSeriesSpec b = a;
    b.positions = {{0, 0, 0}, {0, 0, 2}, {0, 0, 4}};
    b.columns = 7;
    b.rows = 4;
    b.series_uid = "1.2.826.0.1.3680043.2.1125.777.2";
    b.patient_name = "Roe^Rick^J";
    b.study_date = "20240131";
    b.window_center = "40\\-600";  // stored brain and lung windows: the first opens
    b.window_width = "80\\1500";
    medseg::test::write_dicom_series(root / "a", a);
    medseg::test::write_dicom_series(root / "b", b);
    fs::create_directories(root / "both");
    for (const char* s : {"a", "b"})
      for (const auto& e : fs::directory_iterator(root / s))
        fs::rename(e.path(), root / "both" / (std::string(s) + "_" + e.path().filename().string()));

    int rows = 0;
    QString patient, date;
    ModalWatcher watcher([&](QWidget* w) {
      auto* dialog = qobject_cast<DicomSeriesDialog*>(w);
      if (!dialog) return qobject_cast<QDialog*>(w)->reject();
      rows = dialog->table()->rowCount();
      for (int r = 0; r < rows; ++r) {
        if (dialog->table()->item(r, DicomSeriesDialog::kSeriesUid)->text() != QString::fromStdString(b.series_uid)) {
          continue;
        }
        dialog->table()->selectRow(r);
        patient = dialog->table()->item(r, DicomSeriesDialog::kPatient)->text();
        date = dialog->table()->item(r, DicomSeriesDialog::kStudyDate)->text();
      }
      dialog->accept();
    });
    window.open_path(QString::fromStdString((root / "both").string()));
    QTRY_VERIFY_WITH_TIMEOUT(window.session() != nullptr, 20000);
    QCOMPARE(watcher.names, QStringList{QStringLiteral("dicomSeriesDialog")});
    QCOMPARE(rows, 2);
    QCOMPARE(window.session()->scan().geometry.size, (std::array<std::int64_t, 3>{7, 4, 3}));
    QCOMPARE(window.session()->scan().metadata.series_uid, b.series_uid);
    QCOMPARE(patient, QStringLiteral("Roe, Rick J"));
    QCOMPARE(date, QStringLiteral("2024-01-31"));
    // Its stored window opens, and the combo offers it.
    QCOMPARE(window.session()->window(), WindowLevel(80, 40));
    QCOMPARE(window.preset_combo()->currentData().toString(), QStringLiteral("dicom"));
    QVERIFY(window.apply_window_preset(QStringLiteral("bone")));
    QVERIFY(window.apply_window_preset(QStringLiteral("dicom")));
    QCOMPARE(window.session()->window(), WindowLevel(80, 40));

    // One file of a series (as dropped): its whole series, without asking.
    window.open_path(QString::fromStdString((root / "both" / "a_slice2.dcm").string()));
    QTRY_VERIFY_WITH_TIMEOUT(window.session()->scan().geometry.size[0] == 6, 20000);
    QCOMPARE(window.session()->scan().geometry.size, (std::array<std::int64_t, 3>{6, 5, 4}));
    // Series a stores no window: the item is gone, CT opens with soft tissue.
    QCOMPARE(window.preset_combo()->findData(QStringLiteral("dicom")), -1);
    QCOMPARE(window.preset_combo()->currentData().toString(), QStringLiteral("soft tissue"));
    QCOMPARE(watcher.names.size(), 1);  // no picker for one file
    QVERIFY(!window.apply_window_preset(QStringLiteral("dicom")));
    QCOMPARE(watcher.names.last(), QStringLiteral("errorDialog"));
  }
};

QTEST_MAIN(WidgetsTest)
#include "widgets_test.moc"
