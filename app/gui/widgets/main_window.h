#pragma once
// The medseg-gui main window: three linked slice views with the info cell
// and histogram, the window/level toolbar, menus, status bar and job
// progress, and the Segment, Labels, Edit, Statistics and Train panels
// (classes of their own) in tabs. Widgets only draw and forward input: the
// scan state is a ScanSession (app/gui/logic), every pipeline call goes
// through app/gui/logic/pipeline_facade.h, long ones on the JobRunner's
// worker thread. The window runs those jobs (open, read labels, segment,
// adapt, save) and wires the panels to the session and to each other.
#include <QMainWindow>
#include <QString>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "app/gui/logic/label_description.h"
#include "app/gui/logic/label_editor.h"
#include "app/gui/logic/slice_renderer.h"
#include "app/gui/widgets/edit_panel.h"
#include "app/gui/widgets/job_runner.h"
#include "app/gui/widgets/labels_panel.h"
#include "app/gui/widgets/segment_panel.h"
#include "app/gui/widgets/statistics_panel.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/volume.h"

class QAction;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace medseg::gui {

class HistogramView;
class ScanSession;
class SliceView;
class TrainPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  /// `models_dir`: where the bundled models are listed from (e.g.
  /// <source>/data_samples/models).
  explicit MainWindow(std::filesystem::path models_dir, QWidget* parent = nullptr);
  ~MainWindow() override;

  // --- actions (the menus call these after their file dialogs) -------------
  /// Opens a file or a DICOM folder on the worker thread (a folder with
  /// several series asks which one). Errors: an error dialog.
  void open_path(const QString& path);
  /// Shows `scan` (and `labels`, int16 (D, H, W), or none) now.
  void open_volume(pipeline::Volume scan, const at::Tensor& labels = {});
  /// Reads a label map on the scan's grid as the current labels (one
  /// undoable step) or as the Dice reference. False after an error dialog.
  bool load_labels(const QString& path);
  bool load_reference(const QString& path);
  /// The same on the worker thread (the menus use this; errors: a dialog).
  void read_labels_in_background(const QString& path, bool reference);
  /// Selects a bundle folder (added to the list when new). False (and an
  /// error dialog) when it is not a readable bundle.
  bool set_bundle(const QString& folder);
  /// Segments the open scan with the panel's settings on the worker thread;
  /// the result replaces the labels as one undoable step (after asking when
  /// manual edits exist).
  void run_segmentation();
  /// AdaBN on the open scan; writes the adapted bundle to `output` and
  /// selects it with domain `domain`.
  void adapt_model(const QString& domain, const QString& output);
  /// NIfTI/NRRD (by extension) in the scan's exact geometry + label table
  /// CSV beside it. False after an error dialog.
  bool save_labels(const QString& path);
  /// The same on the worker thread (File > Save labels; errors: a dialog),
  /// from a copy of the labels taken now.
  void save_labels_in_background(const QString& path);
  bool export_statistics(const QString& path);
  bool save_screenshot(const QString& path);
  /// "auto", "dicom" (the scan's stored window) or a CT preset name
  /// (ct_window_presets()); false after an error dialog for an unknown name,
  /// a scan without a stored window, or without a scan.
  bool apply_window_preset(const QString& name);

  /// Without interaction (--screenshot): errors go to stderr, no dialogs,
  /// no questions (replacing edits is allowed).
  void set_interactive(bool interactive) { interactive_ = interactive; }
  /// The last error message shown (tests, --screenshot's exit code).
  const QString& last_error() const { return last_error_; }

  // --- for tests -----------------------------------------------------------
  ScanSession* session() const { return session_.get(); }
  SliceView* view(ViewKind kind) const { return views_[static_cast<int>(kind)]; }
  JobRunner& jobs() { return jobs_; }
  QComboBox* preset_combo() const { return preset_combo_; }
  QComboBox* bundle_combo() const { return segment_panel_->bundle_combo(); }
  QComboBox* domain_combo() const { return segment_panel_->domain_combo(); }
  QComboBox* precision_combo() const { return segment_panel_->precision_combo(); }
  QCheckBox* tta_check() const { return segment_panel_->tta_check(); }
  QPushButton* run_button() const { return segment_panel_->run_button(); }
  QPushButton* cancel_button() const { return cancel_button_; }
  QRadioButton* brush_radio() const { return edit_panel_->brush_radio(); }
  QRadioButton* eraser_radio() const { return edit_panel_->eraser_radio(); }
  QRadioButton* navigate_radio() const { return edit_panel_->navigate_radio(); }
  QDoubleSpinBox* radius_spin() const { return edit_panel_->radius_spin(); }
  QSpinBox* brush_label_spin() const { return edit_panel_->brush_label_spin(); }
  QTableWidget* label_table() const { return labels_panel_->label_table(); }
  QTableWidget* statistics_table() const { return statistics_panel_->statistics_table(); }
  QAction* undo_action() const { return undo_action_; }
  QAction* redo_action() const { return redo_action_; }
  QLabel* status_label() const { return status_label_; }
  HistogramView* histogram() const { return histogram_; }
  SegmentPanel* segment_panel() const { return segment_panel_; }
  LabelsPanel* labels_panel() const { return labels_panel_; }
  EditPanel* edit_panel() const { return edit_panel_; }
  StatisticsPanel* statistics_panel() const { return statistics_panel_; }
  TrainPanel* train_panel() const { return train_panel_; }

 Q_SIGNALS:
  void scan_opened();
  void error_reported(const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  /// A label map on the open scan's grid, as the labels or as the reference.
  bool load_label_file(const QString& path, bool reference);
  /// Shows `labels` (read from a file that carried `names`) as the labels or
  /// as the reference.
  void use_labels(const pipeline::Volume& labels, const std::vector<LabelDescription>& names, bool reference);
  void build_panels();
  void build_menus();
  void report_error(const QString& title, const QString& message);
  bool ask(const QString& title, const QString& question);
  void on_series_listed(const std::filesystem::path& folder, const std::vector<pipeline::DicomSeriesInfo>& series);
  void set_panel_sessions(ScanSession* session);
  void refresh_info();
  void refresh_history();
  void refresh_preset_combo();
  void update_brush();
  void update_views();
  void show_hover(double i, double j, double k, bool inside);
  void toggle_maximized(ViewKind kind);
  void on_job_started(const QString& title);
  void on_job_finished(bool ok, bool cancelled, const QString& error);

  std::filesystem::path models_dir_;
  JobRunner jobs_;
  std::unique_ptr<ScanSession> session_;
  LabelOverlay overlay_;
  std::uint64_t generation_ = 0;  ///< bumped per opened scan; stale job results are dropped
  /// Undo position right after the last model result was applied.
  std::optional<std::size_t> result_position_;
  bool interactive_ = true;
  bool applying_preset_ = false;
  QString last_error_;
  std::optional<ViewKind> maximized_;

  std::array<SliceView*, 3> views_{};
  QLabel* info_label_ = nullptr;
  QWidget* info_cell_ = nullptr;
  HistogramView* histogram_ = nullptr;
  QComboBox* preset_combo_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  SegmentPanel* segment_panel_ = nullptr;
  LabelsPanel* labels_panel_ = nullptr;
  EditPanel* edit_panel_ = nullptr;
  StatisticsPanel* statistics_panel_ = nullptr;
  TrainPanel* train_panel_ = nullptr;
  QAction* undo_action_ = nullptr;
  QAction* redo_action_ = nullptr;
  QLabel* status_label_ = nullptr;
  QLabel* job_label_ = nullptr;
  QProgressBar* progress_bar_ = nullptr;
  QPushButton* cancel_button_ = nullptr;
};

}  // namespace medseg::gui
