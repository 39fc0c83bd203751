#include "app/gui/widgets/main_window.h"

#include <ATen/ATen.h>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>

#include "app/gui/logic/pipeline_facade.h"
#include "app/gui/logic/scan_session.h"
#include "app/gui/widgets/dicom_series_dialog.h"
#include "app/gui/widgets/histogram_view.h"
#include "app/gui/widgets/slice_view.h"
#include "app/gui/widgets/train_panel.h"
#include "core/error.h"
#include "pipeline/grid_compare.h"

namespace medseg::gui {
namespace fs = std::filesystem;
namespace {

fs::path to_path(const QString& s) { return fs::path(s.toStdString()); }
QString qs(const std::string& s) { return QString::fromStdString(s); }

/// A .dcm file, or a file without extension that starts with DICOM's
/// 128-byte preamble + "DICM" (how most scanners name their files).
bool looks_like_dicom_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".dcm" || ext == ".ima") return true;
  if (!ext.empty()) return false;
  std::ifstream in(p, std::ios::binary);
  char buffer[132] = {};
  in.read(buffer, sizeof buffer);
  return in.gcount() == sizeof buffer && std::string(buffer + 128, 4) == "DICM";
}

}  // namespace

MainWindow::MainWindow(fs::path models_dir, QWidget* parent) : QMainWindow(parent), models_dir_(std::move(models_dir)) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowTitle(QStringLiteral("medseg"));
  setAcceptDrops(true);

  // Views: ITK-SNAP's layout (axial, sagittal / coronal, info).
  auto* view_area = new QWidget(this);
  auto* grid = new QGridLayout(view_area);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setSpacing(2);
  for (ViewKind k : {ViewKind::kAxial, ViewKind::kCoronal, ViewKind::kSagittal}) {
    auto* v = new SliceView(k, view_area);
    views_[static_cast<int>(k)] = v;
    connect(v, &SliceView::hovered, this, &MainWindow::show_hover);
    connect(v, &SliceView::maximize_toggled, this, &MainWindow::toggle_maximized);
    connect(v, &SliceView::error_occurred, this, [this](const QString& m) { report_error(tr("Edit"), m); });
    connect(v, &SliceView::reset_requested, this, [this] {
      for (SliceView* view : views_) view->reset_view();
    });
  }
  grid->addWidget(views_[0], 0, 0);
  grid->addWidget(views_[2], 0, 1);
  grid->addWidget(views_[1], 1, 0);
  info_label_ = new QLabel(view_area);
  info_label_->setObjectName(QStringLiteral("infoLabel"));
  info_label_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  info_label_->setWordWrap(true);
  info_label_->setMargin(8);
  info_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  histogram_ = new HistogramView(view_area);
  auto* info_cell = new QWidget(view_area);
  auto* info_layout = new QVBoxLayout(info_cell);
  info_layout->setContentsMargins(0, 0, 0, 0);
  info_layout->addWidget(info_label_, 1);
  info_layout->addWidget(histogram_);
  grid->addWidget(info_cell, 1, 1);
  info_cell_ = info_cell;
  // Four equal cells whatever the info text or histogram would like.
  info_cell->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  for (SliceView* v : views_) v->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  for (int i = 0; i < 2; ++i) {
    grid->setRowStretch(i, 1);
    grid->setColumnStretch(i, 1);
  }

  build_panels();

  auto* splitter = new QSplitter(this);
  splitter->addWidget(view_area);
  splitter->addWidget(tabs_);
  splitter->setStretchFactor(0, 1);
  splitter->setStretchFactor(1, 0);
  setCentralWidget(splitter);

  // Window/level presets.
  auto* toolbar = addToolBar(tr("Display"));
  toolbar->setObjectName(QStringLiteral("displayToolbar"));
  toolbar->addWidget(new QLabel(tr(" Window/level: "), toolbar));
  preset_combo_ = new QComboBox(toolbar);
  preset_combo_->setObjectName(QStringLiteral("presetCombo"));
  preset_combo_->addItem(tr("auto (0.5-99.5 %)"), QStringLiteral("auto"));
  for (const WindowPreset& p : ct_window_presets()) {
    preset_combo_->addItem(QStringLiteral("CT %1 (%2/%3)").arg(qs(p.name)).arg(p.width).arg(p.level), qs(p.name));
  }
  preset_combo_->addItem(tr("custom (Ctrl+left drag)"), QStringLiteral("custom"));
  connect(preset_combo_, QOverload<int>::of(&QComboBox::activated), this, [this](int index) {
    const QString name = preset_combo_->itemData(index).toString();
    if (name != QStringLiteral("custom")) apply_window_preset(name);
  });
  toolbar->addWidget(preset_combo_);

  // Status bar: position under the cursor, and the running job.
  status_label_ = new QLabel(this);
  status_label_->setObjectName(QStringLiteral("statusLabel"));
  statusBar()->addWidget(status_label_, 1);
  job_label_ = new QLabel(this);
  progress_bar_ = new QProgressBar(this);
  progress_bar_->setRange(0, 1000);
  progress_bar_->setMaximumWidth(220);
  cancel_button_ = new QPushButton(tr("Cancel"), this);
  cancel_button_->setObjectName(QStringLiteral("cancelButton"));
  statusBar()->addPermanentWidget(job_label_);
  statusBar()->addPermanentWidget(progress_bar_);
  statusBar()->addPermanentWidget(cancel_button_);
  job_label_->hide();
  progress_bar_->hide();
  cancel_button_->hide();
  connect(cancel_button_, &QPushButton::clicked, &jobs_, &JobRunner::cancel);
  connect(&jobs_, &JobRunner::started, this, &MainWindow::on_job_started);
  connect(&jobs_, &JobRunner::progressed, this, [this](double f) {
    progress_bar_->setRange(0, 1000);
    progress_bar_->setValue(static_cast<int>(std::lround(1000 * std::clamp(f, 0.0, 1.0))));
  });
  connect(&jobs_, &JobRunner::finished, this, &MainWindow::on_job_finished);

  build_menus();
  refresh_info();
  refresh_history();
  resize(1400, 900);
}

MainWindow::~MainWindow() {
  jobs_.cancel();
  jobs_.wait();
  for (SliceView* v : views_) v->set_session(nullptr, nullptr);
  histogram_->set_session(nullptr);
  set_panel_sessions(nullptr);
}

// --- panels ------------------------------------------------------------------

void MainWindow::build_panels() {
  tabs_ = new QTabWidget(this);
  segment_panel_ = new SegmentPanel(models_dir_, jobs_, this);
  tabs_->addTab(segment_panel_, tr("Segment"));
  labels_panel_ = new LabelsPanel(this);
  tabs_->addTab(labels_panel_, tr("Labels"));
  edit_panel_ = new EditPanel(this);
  tabs_->addTab(edit_panel_, tr("Edit"));
  statistics_panel_ = new StatisticsPanel(this);
  tabs_->addTab(statistics_panel_, tr("Statistics"));
  train_panel_ = new TrainPanel(
      find_medseg_cli(to_path(QCoreApplication::applicationDirPath())).value_or(fs::path()), this);
  tabs_->addTab(train_panel_, tr("Train"));
  tabs_->setMinimumWidth(330);

  connect(segment_panel_, &SegmentPanel::error_reported, this, &MainWindow::report_error);
  connect(segment_panel_, &SegmentPanel::run_requested, this, &MainWindow::run_segmentation);
  connect(segment_panel_, &SegmentPanel::adapt_requested, this, &MainWindow::adapt_model);
  connect(labels_panel_, &LabelsPanel::paint_label_chosen, edit_panel_, &EditPanel::set_paint_label);
  connect(labels_panel_, &LabelsPanel::outline_toggled, this, [this](bool on) {
    for (SliceView* v : views_) v->set_outline(on);
  });
  connect(edit_panel_, &EditPanel::brush_changed, this, &MainWindow::update_brush);
  connect(edit_panel_, &EditPanel::status_message, this,
          [this](const QString& message, int timeout_ms) { statusBar()->showMessage(message, timeout_ms); });
  connect(statistics_panel_, &StatisticsPanel::error_reported, this, &MainWindow::report_error);
  connect(statistics_panel_, &StatisticsPanel::reference_chosen, this,
          [this](const QString& path) { read_labels_in_background(path, /*reference=*/true); });
  connect(train_panel_, &TrainPanel::error_reported, this, &MainWindow::report_error);
  connect(train_panel_, &TrainPanel::bundle_ready, this, [this](const QString& folder) {
    if (set_bundle(folder)) statusBar()->showMessage(tr("Training finished: %1 selected for segmentation").arg(folder), 10000);
  });
}

void MainWindow::set_panel_sessions(ScanSession* session) {
  segment_panel_->set_session(session);
  labels_panel_->set_session(session);
  edit_panel_->set_session(session);
  statistics_panel_->set_session(session);
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open scan…"), QKeySequence::Open, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Open scan"), QString(),
                                                   tr("Scans (*.nii *.nii.gz *.nrrd *.mha *.mhd *.dcm);;All files (*)"));
    if (!f.isEmpty()) open_path(f);
  });
  file->addAction(tr("Open &DICOM folder…"), this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("DICOM folder"));
    if (!d.isEmpty()) open_path(d);
  });
  file->addSeparator();
  file->addAction(tr("&Load labels…"), this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Load label map"));
    if (!f.isEmpty()) read_labels_in_background(f, /*reference=*/false);
  });
  file->addAction(tr("Load &reference labels (Dice)…"), this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Reference label map"));
    if (!f.isEmpty()) read_labels_in_background(f, /*reference=*/true);
  });
  file->addAction(tr("&Save labels…"), QKeySequence::Save, this, [this] {
    // Default: beside the scan, "<scan name>_labels.nii.gz".
    QString suggestion = QStringLiteral("labels.nii.gz");
    if (session_ && !session_->scan().source_path.empty()) {
      const fs::path source(session_->scan().source_path);
      const std::string stem = label_table_path(source.filename()).stem().string();
      suggestion = qs((source.parent_path() / (stem + "_labels.nii.gz")).string());  // a DICOM folder: beside it
    }
    const QString f = QFileDialog::getSaveFileName(this, tr("Save label map"), suggestion,
                                                   tr("NIfTI (*.nii.gz *.nii);;NRRD (*.nrrd)"));
    if (!f.isEmpty()) save_labels_in_background(f);
  });
  file->addAction(tr("Export &statistics (CSV)…"), this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Export statistics"), QStringLiteral("statistics.csv"),
                                                   tr("CSV (*.csv)"));
    if (!f.isEmpty()) export_statistics(f);
  });
  file->addAction(tr("Screens&hot…"), this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Screenshot"), QStringLiteral("medseg.png"),
                                                   tr("PNG (*.png)"));
    if (!f.isEmpty()) save_screenshot(f);
  });
  file->addAction(tr("Open &training config…"), this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Training config"), QString(), tr("YAML (*.yaml *.yml)"));
    if (f.isEmpty()) return;
    tabs_->setCurrentWidget(train_panel_);
    train_panel_->open_config(f);
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  undo_action_ = edit->addAction(tr("&Undo"), this, [this] {
    if (session_) session_->undo();
  });
  undo_action_->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Z)});
  redo_action_ = edit->addAction(tr("&Redo"), this, [this] {
    if (session_) session_->redo();
  });
  redo_action_->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(tr("&Reset views (r)"), this, [this] {
    for (SliceView* v : views_) v->reset_view();
  });
  QAction* neuro = view->addAction(tr("&Neurological convention (patient left on screen left)"));
  neuro->setCheckable(true);
  neuro->setObjectName(QStringLiteral("neurologicalAction"));
  connect(neuro, &QAction::toggled, this, [this](bool on) {
    if (session_) session_->set_convention(on ? DisplayConvention::kNeurological : DisplayConvention::kRadiological);
  });
  QAction* cross = view->addAction(tr("&Crosshair"));
  cross->setCheckable(true);
  cross->setChecked(true);
  connect(cross, &QAction::toggled, this, [this](bool on) {
    for (SliceView* v : views_) v->set_crosshair_visible(on);
  });
}

// --- errors and questions ----------------------------------------------------

void MainWindow::report_error(const QString& title, const QString& message) {
  last_error_ = message;
  Q_EMIT error_reported(message);
  if (!interactive_) {
    std::cerr << "medseg-gui: " << title.toStdString() << ": " << message.toStdString() << std::endl;
    return;
  }
  QMessageBox box(QMessageBox::Critical, title, message, QMessageBox::Ok, this);
  box.setObjectName(QStringLiteral("errorDialog"));
  box.exec();
}

bool MainWindow::ask(const QString& title, const QString& question) {
  if (!interactive_) return true;
  QMessageBox box(QMessageBox::Question, title, question, QMessageBox::Yes | QMessageBox::No, this);
  box.setObjectName(QStringLiteral("questionDialog"));
  return box.exec() == QMessageBox::Yes;
}

// --- opening -------------------------------------------------------------------

void MainWindow::open_path(const QString& path) {
  const fs::path p = to_path(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    jobs_.start(tr("Listing DICOM series"), [this, p](const JobRunner::Progress&) -> JobRunner::Continuation {
      auto series = pipeline::list_dicom_series(p);
      return [this, p, series] { on_series_listed(p, series); };
    });
    return;
  }
  if (looks_like_dicom_file(p)) {
    // One file of a series (dropped or chosen): open its whole series, found
    // by listing the folder, instead of a single slice (GUI.md, complaint 7).
    jobs_.start(tr("Listing DICOM series"), [this, p](const JobRunner::Progress&) -> JobRunner::Continuation {
      const fs::path folder = p.parent_path().empty() ? fs::path(".") : p.parent_path();
      auto series = pipeline::list_dicom_series(folder);
      std::error_code same_error;
      for (const auto& s : series) {
        for (const auto& f : s.files) {
          if (fs::equivalent(fs::path(f), p, same_error)) {
            auto volume = std::make_shared<pipeline::Volume>(pipeline::read_dicom_series(folder, s));
            return [this, volume] { open_volume(std::move(*volume)); };
          }
        }
      }
      auto volume = std::make_shared<pipeline::Volume>(pipeline::read_volume(p));  // not part of a listed series
      return [this, volume] { open_volume(std::move(*volume)); };
    });
    return;
  }
  jobs_.start(tr("Reading %1").arg(QFileInfo(path).fileName()),
              [this, p](const JobRunner::Progress&) -> JobRunner::Continuation {
                auto volume = std::make_shared<pipeline::Volume>(pipeline::read_volume(p));
                return [this, volume] { open_volume(std::move(*volume)); };
              });
}

void MainWindow::on_series_listed(const fs::path& folder, const std::vector<pipeline::DicomSeriesInfo>& series) {
  if (series.empty()) throw IoError("'" + folder.string() + "' holds no DICOM series");
  std::size_t index = 0;
  if (series.size() > 1) {
    if (!interactive_) {
      throw IoError("'" + folder.string() + "' holds " + std::to_string(series.size()) +
                    " DICOM series; open it in the window to choose one");
    }
    DicomSeriesDialog dialog(series, qs(folder.string()), this);
    if (dialog.exec() != QDialog::Accepted || dialog.chosen() < 0) return;
    index = static_cast<std::size_t>(dialog.chosen());
  }
  const pipeline::DicomSeriesInfo chosen = series[index];
  // Started from a continuation: the runner is free again here.
  jobs_.start(tr("Reading DICOM series"), [this, folder, chosen](const JobRunner::Progress&) -> JobRunner::Continuation {
    auto volume = std::make_shared<pipeline::Volume>(pipeline::read_dicom_series(folder, chosen));
    return [this, volume] { open_volume(std::move(*volume)); };
  });
}

void MainWindow::open_volume(pipeline::Volume scan, const at::Tensor& labels) {
  ScanSessionOptions options;
  options.label_table = segment_panel_->bundle_label_table();
  options.overlay_opacity = labels_panel_->opacity();
  auto session = std::make_unique<ScanSession>(std::move(scan), labels, std::move(options));
  for (SliceView* v : views_) v->set_session(nullptr, nullptr);
  histogram_->set_session(nullptr);
  set_panel_sessions(nullptr);
  session_ = std::move(session);
  set_panel_sessions(session_.get());
  ++generation_;
  result_position_.reset();
  overlay_ = session_->overlay();
  ScanSession* s = session_.get();
  s->crosshair_changed.connect([this] {
    update_views();
    refresh_info();
  });
  s->window_changed.connect([this] {
    update_views();
    histogram_->update();
    refresh_info();
    refresh_preset_combo();
  });
  s->display_changed.connect([this] { update_views(); });
  s->labels_changed.connect([this] { update_views(); });
  s->statistics_changed.connect([this] { statistics_panel_->refresh(); });
  s->label_table_changed.connect([this] {
    overlay_ = session_->overlay();
    update_views();
    statistics_panel_->refresh();  // names
    // Rebuilt after the table's own signal handler returned.
    QMetaObject::invokeMethod(this, [this] {
      labels_panel_->refresh();
      edit_panel_->refresh_label_name();
    }, Qt::QueuedConnection);
  });
  s->history_changed.connect([this] { refresh_history(); });
  for (SliceView* v : views_) v->set_session(s, &overlay_);
  histogram_->set_session(s);
  // A stored DICOM window is offered (and opens) only for the scan that has one.
  const int stored_item = preset_combo_->findData(QStringLiteral("dicom"));
  if (stored_item >= 0) preset_combo_->removeItem(stored_item);
  if (const auto& w = s->stored_window()) {
    preset_combo_->insertItem(1, tr("DICOM stored (%1/%2)").arg(w->width()).arg(w->level()), QStringLiteral("dicom"));
  }
  // The combo shows the opening window's kind: stored, else auto unless the scan is CT.
  preset_combo_->setCurrentIndex(s->stored_window()                       ? 1
                                 : s->scan().metadata.modality == "CT" ? preset_combo_->findData("soft tissue")
                                                                       : 0);
  update_brush();
  edit_panel_->refresh_label_name();
  labels_panel_->refresh();
  statistics_panel_->refresh();
  refresh_history();
  refresh_info();
  setWindowTitle(QStringLiteral("medseg — %1").arg(qs(fs::path(s->scan().source_path).filename().string())));
  Q_EMIT scan_opened();
}

namespace {
/// A label map shown over a scan must be on its very grid: the same size is
/// not enough (a flipped or shifted map would be drawn over the wrong voxels,
/// GUI.md complaint 4).
pipeline::Volume read_labels_on_grid(const QString& path, const pipeline::Geometry& scan) {
  // A DICOM SEG is placed on the scan's grid by its frames' positions.
  pipeline::ReadOptions options;
  options.seg_grid = scan;
  pipeline::Volume labels = pipeline::read_label_map(to_path(path), options);
  const std::string difference = pipeline::grid_difference(labels.geometry, scan);
  if (!difference.empty()) {
    throw IoError("label map '" + path.toStdString() + "' is not on the scan's grid (" + difference + ")");
  }
  return labels;
}
}  // namespace

void MainWindow::read_labels_in_background(const QString& path, bool reference) {
  if (!session_) {
    report_error(reference ? tr("Load reference") : tr("Load labels"), tr("Open a scan first."));
    return;
  }
  const pipeline::Geometry grid = session_->scan().geometry;
  const auto generation = generation_;
  jobs_.start(tr("Reading %1").arg(QFileInfo(path).fileName()),
              [this, path, grid, generation, reference](const JobRunner::Progress&) {
                auto labels = std::make_shared<pipeline::Volume>(read_labels_on_grid(path, grid));
                auto names = std::make_shared<std::vector<LabelDescription>>(stored_label_descriptions(to_path(path)));
                return JobRunner::Continuation([this, labels, names, generation, reference] {
                  if (generation != generation_ || !session_) return;
                  use_labels(*labels, *names, reference);
                });
              });
}

void MainWindow::use_labels(const pipeline::Volume& labels, const std::vector<LabelDescription>& names,
                            bool reference) {
  // A loaded map's own names and colours (a SEG's segments, a saved table)
  // win over the defaults; a reference only names labels nobody named yet.
  for (const LabelDescription& d : names) {
    const auto& table = session_->label_table();
    const bool known = std::any_of(table.begin(), table.end(), [&](const auto& t) { return t.value == d.value; });
    if (!reference || !known) session_->set_label_description(d);
  }
  if (reference) {
    session_->set_reference(labels.data);
  } else {
    session_->replace_labels(labels.data);
  }
}

bool MainWindow::load_labels(const QString& path) { return load_label_file(path, /*reference=*/false); }

bool MainWindow::load_reference(const QString& path) { return load_label_file(path, /*reference=*/true); }

bool MainWindow::load_label_file(const QString& path, bool reference) {
  const QString title = reference ? tr("Load reference") : tr("Load labels");
  if (!session_) {
    report_error(title, tr("Open a scan first."));
    return false;
  }
  try {
    const pipeline::Volume labels = read_labels_on_grid(path, session_->scan().geometry);
    use_labels(labels, stored_label_descriptions(to_path(path)), reference);
    return true;
  } catch (const std::exception& e) {
    report_error(title, qs(e.what()));
    return false;
  }
}

// --- models ------------------------------------------------------------------------

bool MainWindow::set_bundle(const QString& folder) { return segment_panel_->set_bundle(folder); }

void MainWindow::run_segmentation() {
  if (!session_) {
    report_error(tr("Segment"), tr("Open a scan first."));
    return;
  }
  if (!segment_panel_->bundle_info()) {
    report_error(tr("Segment"), tr("Choose a usable model first."));
    return;
  }
  if (jobs_.busy()) return;
  // Ask unless the labels are empty or exactly the last model result (the
  // undo position right after it): MONAI Label users lost manual work to a
  // silent replacement (GUI.md, complaint 2).
  const bool unchanged_result =
      result_position_ && *result_position_ == session_->editor().history().undo_count();
  if (!unchanged_result && session_->labels().ne(0).any().item<bool>() &&
      !ask(tr("Replace labels?"), tr("The label map has labels that are not the model's last result "
                                     "(edits or a loaded map). Replace them with the model's result? "
                                     "(Undo brings them back.)"))) {
    return;
  }
  SegmentRequest request;
  try {
    request = segment_panel_->request();
  } catch (const std::exception& e) {
    report_error(tr("Segment"), qs(e.what()));
    return;
  }
  const pipeline::Volume scan = session_->scan();  // shares the read-only voxels
  const auto generation = generation_;
  jobs_.start(tr("Segmenting"), [this, scan, request, generation](const JobRunner::Progress& progress) {
    auto labels = segment_scan(scan, request, progress);
    return JobRunner::Continuation([this, labels, generation] {
      if (generation != generation_ || !session_) return;  // another scan was opened meanwhile
      session_->replace_labels(labels);
      result_position_ = session_->editor().history().undo_count();
    });
  });
}

void MainWindow::adapt_model(const QString& domain, const QString& output) {
  const QString bundle_folder = segment_panel_->bundle_folder();
  if (!session_ || bundle_folder.isEmpty() || jobs_.busy()) return;
  const fs::path bundle = to_path(bundle_folder);
  const fs::path out = to_path(output);
  const pipeline::Volume scan = session_->scan();
  const std::string name = domain.toStdString();
  jobs_.start(tr("Adapting model"), [this, bundle, out, scan, name, output, domain](const JobRunner::Progress& progress) {
    adapt_bundle_to_scan(bundle, scan, name, out, progress);
    return JobRunner::Continuation([this, output, domain] {
      if (!set_bundle(output)) return;
      segment_panel_->select_domain(domain);
      statusBar()->showMessage(tr("Adapted model saved to %1 (domain %2)").arg(output, domain), 10000);
    });
  });
}

// --- saving -----------------------------------------------------------------------

bool MainWindow::save_labels(const QString& path) {
  if (!session_) {
    report_error(tr("Save labels"), tr("Nothing to save: open a scan first."));
    return false;
  }
  try {
    save_label_map(session_->labels(), session_->scan().geometry, to_path(path), session_->label_table());
    statusBar()->showMessage(tr("Saved %1 and %2").arg(path, qs(label_table_path(to_path(path)).string())), 5000);
    return true;
  } catch (const std::exception& e) {
    report_error(tr("Save labels"), qs(e.what()));
    return false;
  }
}

void MainWindow::save_labels_in_background(const QString& path) {
  if (!session_) {
    report_error(tr("Save labels"), tr("Nothing to save: open a scan first."));
    return;
  }
  // A copy: painting goes on while the file is written, and the file holds
  // the labels as they were when Save was chosen.
  const at::Tensor labels = session_->labels().clone();
  const pipeline::Geometry geometry = session_->scan().geometry;
  const std::vector<LabelDescription> table = session_->label_table();
  jobs_.start(tr("Saving %1").arg(QFileInfo(path).fileName()),
              [this, labels, geometry, table, path](const JobRunner::Progress&) {
                save_label_map(labels, geometry, to_path(path), table);
                return JobRunner::Continuation([this, path] {
                  statusBar()->showMessage(
                      tr("Saved %1 and %2").arg(path, qs(label_table_path(to_path(path)).string())), 5000);
                });
              });
}

bool MainWindow::export_statistics(const QString& path) { return statistics_panel_->export_csv(path); }

bool MainWindow::apply_window_preset(const QString& name) {
  if (!session_) {
    report_error(tr("Window/level"), tr("Open a scan first."));
    return false;
  }
  applying_preset_ = true;
  try {
    if (name == QStringLiteral("auto")) {
      session_->apply_auto_window();
    } else if (name == QStringLiteral("dicom")) {
      session_->apply_stored_window();
    } else {
      session_->apply_preset(name.toStdString());
    }
  } catch (const std::exception& e) {
    applying_preset_ = false;
    report_error(tr("Window/level"), qs(e.what()));
    return false;
  }
  applying_preset_ = false;
  const QSignalBlocker block(preset_combo_);
  preset_combo_->setCurrentIndex(preset_combo_->findData(name));
  return true;
}

void MainWindow::refresh_preset_combo() {
  // A window set otherwise (Ctrl+left drag) shows as the preset it equals,
  // or as "custom".
  if (!session_ || applying_preset_) return;
  const WindowLevel& w = session_->window();
  int index = preset_combo_->findData(QStringLiteral("custom"));
  for (const WindowPreset& p : ct_window_presets()) {
    if (p.window() == w) index = preset_combo_->findData(qs(p.name));
  }
  if (session_->stored_window() == w) index = preset_combo_->findData(QStringLiteral("dicom"));
  const QSignalBlocker block(preset_combo_);
  preset_combo_->setCurrentIndex(index);
}

bool MainWindow::save_screenshot(const QString& path) {
  const QPixmap pixmap = grab();
  if (!pixmap.save(path, "PNG")) {
    report_error(tr("Screenshot"), tr("could not write '%1'").arg(path));
    return false;
  }
  return true;
}

// --- refreshing -------------------------------------------------------------------

void MainWindow::update_views() {
  for (SliceView* v : views_) v->update();
}

void MainWindow::refresh_history() {
  undo_action_->setEnabled(session_ && session_->can_undo());
  redo_action_->setEnabled(session_ && session_->can_redo());
}

void MainWindow::refresh_info() {
  if (!session_) {
    info_label_->setText(tr("<b>medseg</b><br>File &gt; Open a scan (NIfTI, NRRD, MetaImage, DICOM folder) "
                            "or drop it on the window."));
    status_label_->setText(QString());
    return;
  }
  const auto& g = session_->scan().geometry;
  const auto& c = session_->crosshair();
  const auto mm = session_->crosshair_mm();
  const auto& w = session_->window();
  const LabelDescription label = session_->describe(session_->label_at_crosshair());
  info_label_->setText(
      tr("<b>%1</b><br>%2 × %3 × %4 voxels, %5 × %6 × %7 mm, %8 (%9)<br>Window %10 / level %11<br><br>"
         "Crosshair: voxel (%12, %13, %14)<br>%15, %16, %17 mm (LPS)<br>value %18, label %19")
          .arg(qs(fs::path(session_->scan().source_path).filename().string()).toHtmlEscaped())
          .arg(g.size[0]).arg(g.size[1]).arg(g.size[2])
          .arg(g.spacing[0], 0, 'g', 4).arg(g.spacing[1], 0, 'g', 4).arg(g.spacing[2], 0, 'g', 4)
          .arg(qs(session_->geometry().orientation_code()))
          .arg(qs(session_->scan().metadata.modality.empty() ? std::string("modality unknown")
                                                             : session_->scan().metadata.modality))
          .arg(w.width(), 0, 'g', 5).arg(w.level(), 0, 'g', 5)
          .arg(c[0]).arg(c[1]).arg(c[2])
          .arg(mm[0], 0, 'f', 1).arg(mm[1], 0, 'f', 1).arg(mm[2], 0, 'f', 1)
          .arg(static_cast<double>(session_->intensity_at_crosshair()), 0, 'g', 6)
          .arg(session_->label_at_crosshair() == 0 ? tr("background") : qs(label.name).toHtmlEscaped()));
}

void MainWindow::show_hover(double i, double j, double k, bool inside) {
  if (!session_ || !inside) {
    status_label_->setText(QString());
    return;
  }
  const std::array<std::int64_t, 3> v{std::llround(i), std::llround(j), std::llround(k)};
  const auto mm = session_->geometry().voxel_to_patient({static_cast<double>(v[0]), static_cast<double>(v[1]),
                                                         static_cast<double>(v[2])});
  const auto& g = session_->scan().geometry;
  const std::int64_t index = (v[2] * g.size[1] + v[1]) * g.size[0] + v[0];
  const float value = session_->scan().data.data_ptr<float>()[index];
  const std::int16_t label = session_->editor().label_data()[index];
  status_label_->setText(tr("%1, %2, %3 mm (LPS)   voxel (%4, %5, %6)   value %7   label %8")
                             .arg(mm[0], 0, 'f', 1).arg(mm[1], 0, 'f', 1).arg(mm[2], 0, 'f', 1)
                             .arg(v[0]).arg(v[1]).arg(v[2])
                             .arg(static_cast<double>(value), 0, 'g', 6)
                             .arg(label == 0 ? tr("background")
                                             : QStringLiteral("%1 %2").arg(label).arg(qs(session_->describe(label).name))));
}

void MainWindow::update_brush() {
  const std::optional<BrushOptions> brush = edit_panel_->brush();
  for (SliceView* v : views_) v->set_brush(brush);
}

void MainWindow::toggle_maximized(ViewKind kind) {
  if (maximized_) {
    for (SliceView* v : views_) v->show();
    info_cell_->show();
    maximized_.reset();
    return;
  }
  for (SliceView* v : views_) v->setVisible(v->kind() == kind);
  info_cell_->hide();
  maximized_ = kind;
}

// --- jobs ---------------------------------------------------------------------------

void MainWindow::on_job_started(const QString& title) {
  job_label_->setText(title);
  progress_bar_->setRange(0, 0);  // busy until the first progress report
  job_label_->show();
  progress_bar_->show();
  cancel_button_->show();
  segment_panel_->set_job_running(true);
}

void MainWindow::on_job_finished(bool ok, bool cancelled, const QString& error) {
  const QString title = jobs_.title();
  if (!jobs_.busy()) {  // a continuation may have started the next job
    job_label_->hide();
    progress_bar_->hide();
    cancel_button_->hide();
    segment_panel_->set_job_running(false);
  }
  if (cancelled) {
    statusBar()->showMessage(tr("%1: cancelled").arg(title), 5000);
  } else if (!ok) {
    report_error(title, error);
  }
}

// --- drag and drop, close ----------------------------------------------------------

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (!urls.isEmpty() && urls.first().isLocalFile()) open_path(urls.first().toLocalFile());
}

void MainWindow::closeEvent(QCloseEvent* event) {
  // A training run is a process of its own and may go on without the window
  // (reopening its config follows it again).
  if (train_panel_->running() &&
      ask(tr("Training is running"), tr("Stop the training run? (No: it goes on in the background; open its "
                                        "config again to follow it.)"))) {
    train_panel_->stop();
  }
  jobs_.cancel();
  jobs_.wait();
  event->accept();
}

}  // namespace medseg::gui
