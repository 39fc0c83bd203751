#pragma once
// The Statistics panel: per-label voxels, volume, intensity and Dice against
// a reference, and their CSV export. The numbers come from the ScanSession;
// reading a reference is a job on MainWindow's worker, so the panel only asks
// for it (reference_chosen).
#include <QString>
#include <QWidget>

class QTableWidget;

namespace medseg::gui {

class ScanSession;

class StatisticsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit StatisticsPanel(QWidget* parent = nullptr);

  /// The open scan (or none); refresh() shows its statistics.
  void set_session(ScanSession* session) { session_ = session; }
  /// Rebuilds the table from the session's statistics.
  void refresh();
  /// Writes the statistics as CSV. False without a scan, or after
  /// error_reported.
  bool export_csv(const QString& path);

  // --- for tests -----------------------------------------------------------
  QTableWidget* statistics_table() const { return stats_table_; }

 Q_SIGNALS:
  void error_reported(const QString& title, const QString& message);
  /// Load reference… chose a label map to compare with (Dice).
  void reference_chosen(const QString& path);

 private:
  ScanSession* session_ = nullptr;
  QTableWidget* stats_table_ = nullptr;
};

}  // namespace medseg::gui
