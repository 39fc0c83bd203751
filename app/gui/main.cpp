// medseg-gui: view, segment and correct 3D medical images.
//   medseg-gui [SCAN] [--model BUNDLE] [--labels LABELMAP] [--screenshot OUT.png]
// --screenshot loads everything, runs the model when given, saves a PNG of
// the main window and exits (for docs and tests; exit code 1 on any error).
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QMessageBox>
#include <QTimer>

#include <filesystem>
#include <iostream>

#include "app/gui/widgets/main_window.h"
#include "app/gui/widgets/slice_view.h"
#include "models/allocator.h"
#include "models/runtime.h"

namespace {

/// Processes events until the window's job runner is idle (a chain of jobs,
/// e.g. list a DICOM folder then read it, counts as one).
void wait_for_jobs(medseg::gui::MainWindow& window) {
  while (window.jobs().busy()) QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
  QCoreApplication::processEvents();
}

/// Last line of defence: an exception escaping an event handler would end
/// the program (Qt cannot unwind through its event loop). Show it instead;
/// the operation that threw is abandoned, the window stays usable.
class Application : public QApplication {
 public:
  using QApplication::QApplication;
  bool notify(QObject* receiver, QEvent* event) override {
    try {
      return QApplication::notify(receiver, event);
    } catch (const std::exception& e) {
      std::cerr << "medseg-gui: error: " << e.what() << std::endl;
      QMessageBox::critical(activeWindow(), QStringLiteral("medseg"), QString::fromStdString(e.what()));
    }
    return false;
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace medseg;
  models::reuse_freed_memory();
  models::use_huge_page_tensor_allocator();
  models::configure_threads(0);  // every core (LibTorch defaults to 1 here)

  Application app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("medseg-gui"));
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("medseg-gui: view, segment and correct 3D medical images"));
  parser.addHelpOption();
  parser.addPositionalArgument(QStringLiteral("scan"), QStringLiteral("Scan file or DICOM folder to open"),
                               QStringLiteral("[SCAN]"));
  const QCommandLineOption model_option(QStringLiteral("model"), QStringLiteral("Model bundle folder to select"),
                                        QStringLiteral("BUNDLE"));
  const QCommandLineOption labels_option(QStringLiteral("labels"), QStringLiteral("Label map to load with the scan"),
                                         QStringLiteral("LABELMAP"));
  const QCommandLineOption screenshot_option(
      QStringLiteral("screenshot"),
      QStringLiteral("Load (and segment with --model), save a PNG of the window to OUT.png, exit"),
      QStringLiteral("OUT.png"));
  const QCommandLineOption window_option(
      QStringLiteral("window"),
      QStringLiteral("Opening window/level: auto, dicom (the stored one), or a CT preset (brain, subdural, soft tissue, bone, lung)"),
      QStringLiteral("NAME"));
  parser.addOptions({model_option, labels_option, screenshot_option, window_option});
  parser.process(app);

  const QString screenshot = parser.value(screenshot_option);
  const bool batch = !screenshot.isEmpty();
  const QStringList positional = parser.positionalArguments();
  if (batch && positional.isEmpty()) {
    std::cerr << "medseg-gui: --screenshot needs a SCAN\n";
    return 2;
  }

  gui::MainWindow window(std::filesystem::path(MEDSEG_SOURCE_DIR) / "data_samples" / "models");
  window.set_interactive(!batch);
  if (parser.isSet(model_option) && !window.set_bundle(parser.value(model_option)) && batch) return 1;
  window.show();

  if (!positional.isEmpty()) {
    QElapsedTimer timer;
    timer.start();
    window.open_path(positional.first());
    if (batch) {
      wait_for_jobs(window);
      if (!window.session()) return 1;
      std::cerr << "medseg-gui: opened in " << timer.elapsed() << " ms\n";
    }
  }
  if (parser.isSet(window_option)) {
    const QString name = parser.value(window_option);
    auto apply = [&window, name] { window.apply_window_preset(name); };
    if (window.session()) {
      apply();
    } else {
      QObject::connect(&window, &gui::MainWindow::scan_opened, &window, apply, Qt::SingleShotConnection);
    }
  }
  if (parser.isSet(labels_option)) {
    if (batch) {
      if (!window.load_labels(parser.value(labels_option))) return 1;
    } else {
      // After the scan has been read.
      const QString labels = parser.value(labels_option);
      QObject::connect(&window, &gui::MainWindow::scan_opened, &window,
                       [&window, labels] { window.read_labels_in_background(labels, false); }, Qt::SingleShotConnection);
    }
  }
  if (batch) {
    if (parser.isSet(model_option)) {
      QElapsedTimer timer;
      timer.start();
      window.run_segmentation();
      wait_for_jobs(window);
      if (!window.last_error().isEmpty()) return 1;
      std::cerr << "medseg-gui: segmented in " << timer.elapsed() << " ms\n";
    }
    QCoreApplication::processEvents();
    if (!window.save_screenshot(screenshot)) return 1;
    // grab() painted every view once: report what drawing a slice costs.
    for (auto kind : {gui::ViewKind::kAxial, gui::ViewKind::kCoronal, gui::ViewKind::kSagittal}) {
      const gui::SliceView* view = window.view(kind);
      std::cerr << "medseg-gui: " << gui::view_name(kind) << " slice: render " << view->last_render_ms()
                << " ms, whole paint " << view->last_paint_ms() << " ms (" << view->width() << "x" << view->height()
                << " px)\n";
    }
    return window.last_error().isEmpty() ? 0 : 1;
  }
  return QApplication::exec();
}
