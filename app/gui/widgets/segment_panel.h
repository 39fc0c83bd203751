#pragma once
// The Segment panel: which model bundle, domain, precision and TTA the next
// segmentation uses, and the bundle's description. It owns the selected
// bundle's BundleInfo, so the window asks it for the request and the label
// table instead of reading combos; the jobs themselves (segment, adapt) stay
// with MainWindow, which owns the JobRunner and the scan.
#include <QString>
#include <QWidget>

#include <filesystem>
#include <optional>
#include <vector>

#include "app/gui/logic/label_description.h"
#include "app/gui/logic/pipeline_facade.h"
#include "models/bundle.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;

namespace medseg::gui {

class JobRunner;
class ScanSession;

class SegmentPanel : public QWidget {
  Q_OBJECT

 public:
  /// `models_dir`: the bundles listed at start and where Folder… opens.
  /// `jobs`: only asked whether a job runs (Run stays disabled meanwhile).
  SegmentPanel(std::filesystem::path models_dir, const JobRunner& jobs, QWidget* parent = nullptr);

  /// The open scan (or none): a selected bundle names and colours its labels.
  void set_session(ScanSession* session) { session_ = session; }
  /// Selects a bundle folder (added to the list when new). False after
  /// error_reported when it is not a readable bundle.
  bool set_bundle(const QString& folder);
  /// Selects `domain` when the bundle has it.
  void select_domain(const QString& domain);
  /// Run and Adapt are disabled while a job runs; afterwards Run is enabled
  /// only with a usable bundle.
  void set_job_running(bool running);

  /// The selected bundle, when it could be read.
  const std::optional<models::BundleInfo>& bundle_info() const { return bundle_info_; }
  /// The selected bundle's folder; empty when none is selected.
  QString bundle_folder() const;
  /// Names and colours of the selected bundle's labels (none without one).
  std::vector<LabelDescription> bundle_label_table() const;
  /// The panel's settings as a request. Throws for a precision this CPU
  /// cannot run (resolve_precision).
  SegmentRequest request() const;

  // --- for tests -----------------------------------------------------------
  QComboBox* bundle_combo() const { return bundle_combo_; }
  QComboBox* domain_combo() const { return domain_combo_; }
  QComboBox* precision_combo() const { return precision_combo_; }
  QCheckBox* tta_check() const { return tta_check_; }
  QPushButton* run_button() const { return run_button_; }
  QPushButton* adapt_button() const { return adapt_button_; }

 Q_SIGNALS:
  void error_reported(const QString& title, const QString& message);
  void run_requested();
  /// The user named a new domain and where to write the adapted bundle.
  void adapt_requested(const QString& domain, const QString& output);

 private:
  void refresh_bundle_info();
  void ask_adapt();

  std::filesystem::path models_dir_;
  const JobRunner& jobs_;
  ScanSession* session_ = nullptr;
  std::optional<models::BundleInfo> bundle_info_;

  QComboBox* bundle_combo_ = nullptr;
  QLabel* bundle_label_ = nullptr;
  QComboBox* domain_combo_ = nullptr;
  QComboBox* precision_combo_ = nullptr;
  QCheckBox* tta_check_ = nullptr;
  QPushButton* run_button_ = nullptr;
  QPushButton* adapt_button_ = nullptr;
};

}  // namespace medseg::gui
