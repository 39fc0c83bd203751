#pragma once
// The medseg-gui main window: three linked slice views, and panels for
// segmentation (model bundle, domain, TTA, precision, Run/Cancel, Adapt),
// labels (visibility, colour, opacity, outline), brush/eraser editing and
// label statistics. Widgets only draw and forward input: the scan state is a
// ScanSession (app/gui/logic), every pipeline call goes through
// app/gui/logic/pipeline_facade.h, long ones on the JobRunner's worker thread.
#include <QMainWindow>
#include <QString>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "app/gui/logic/label_editor.h"
#include "app/gui/logic/slice_renderer.h"
#include "app/gui/widgets/job_runner.h"
#include "models/bundle.h"
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
class QSlider;
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
  QComboBox* bundle_combo() const { return bundle_combo_; }
  QComboBox* domain_combo() const { return domain_combo_; }
  QComboBox* precision_combo() const { return precision_combo_; }
  QCheckBox* tta_check() const { return tta_check_; }
  QPushButton* run_button() const { return run_button_; }
  QPushButton* cancel_button() const { return cancel_button_; }
  QRadioButton* brush_radio() const { return brush_radio_; }
  QRadioButton* eraser_radio() const { return eraser_radio_; }
  QRadioButton* navigate_radio() const { return navigate_radio_; }
  QDoubleSpinBox* radius_spin() const { return radius_spin_; }
  QSpinBox* brush_label_spin() const { return brush_label_spin_; }
  QTableWidget* label_table() const { return label_table_; }
  QTableWidget* statistics_table() const { return stats_table_; }
  QAction* undo_action() const { return undo_action_; }
  QAction* redo_action() const { return redo_action_; }
  QLabel* status_label() const { return status_label_; }
  HistogramView* histogram() const { return histogram_; }
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
  QWidget* build_segment_panel();
  QTableWidget* make_table(QWidget* panel, const QString& object_name, const QStringList& headers);
  QWidget* build_labels_panel();
  QWidget* build_edit_panel();
  QWidget* build_statistics_panel();
  void build_menus();
  void report_error(const QString& title, const QString& message);
  bool ask(const QString& title, const QString& question);
  void on_series_listed(const std::filesystem::path& folder, const std::vector<pipeline::DicomSeriesInfo>& series);
  void refresh_bundle_info();
  void refresh_label_table();
  void refresh_statistics();
  void refresh_info();
  void refresh_history();
  void refresh_preset_combo();
  void update_brush();
  void refresh_brush_label_name();
  void update_views();
  void show_hover(double i, double j, double k, bool inside);
  void toggle_maximized(ViewKind kind);
  void on_job_started(const QString& title);
  void on_job_finished(bool ok, bool cancelled, const QString& error);
  std::vector<LabelDescription> bundle_label_table() const;

  std::filesystem::path models_dir_;
  JobRunner jobs_;
  std::unique_ptr<ScanSession> session_;
  LabelOverlay overlay_;
  std::uint64_t generation_ = 0;  ///< bumped per opened scan; stale job results are dropped
  std::optional<models::BundleInfo> bundle_info_;
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
  QComboBox* bundle_combo_ = nullptr;
  QLabel* bundle_label_ = nullptr;
  QComboBox* domain_combo_ = nullptr;
  QComboBox* precision_combo_ = nullptr;
  QCheckBox* tta_check_ = nullptr;
  QPushButton* run_button_ = nullptr;
  QPushButton* adapt_button_ = nullptr;
  QTableWidget* label_table_ = nullptr;
  QSlider* opacity_slider_ = nullptr;
  QCheckBox* outline_check_ = nullptr;
  QRadioButton* navigate_radio_ = nullptr;
  QRadioButton* brush_radio_ = nullptr;
  QRadioButton* eraser_radio_ = nullptr;
  QDoubleSpinBox* radius_spin_ = nullptr;
  QSpinBox* brush_label_spin_ = nullptr;
  QLabel* brush_label_name_ = nullptr;
  QCheckBox* protect_check_ = nullptr;
  QCheckBox* range_check_ = nullptr;
  QDoubleSpinBox* range_min_ = nullptr;
  QDoubleSpinBox* range_max_ = nullptr;
  QDoubleSpinBox* islands_spin_ = nullptr;
  QTableWidget* stats_table_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  TrainPanel* train_panel_ = nullptr;
  QAction* undo_action_ = nullptr;
  QAction* redo_action_ = nullptr;
  QLabel* status_label_ = nullptr;
  QLabel* job_label_ = nullptr;
  QProgressBar* progress_bar_ = nullptr;
  QPushButton* cancel_button_ = nullptr;
};

}  // namespace medseg::gui
