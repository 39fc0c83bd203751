#pragma once
// The Edit panel: the tool (navigate, brush, eraser) and its settings, and
// removing small islands. It turns its widgets into the one BrushOptions the
// views paint with (none: navigate), so MainWindow hands brush() to every
// view when brush_changed fires instead of reading each control.
#include <QString>
#include <QWidget>

#include <optional>

#include "app/gui/logic/label_editor.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QRadioButton;
class QSpinBox;

namespace medseg::gui {

class ScanSession;

class EditPanel : public QWidget {
  Q_OBJECT

 public:
  explicit EditPanel(QWidget* parent = nullptr);

  /// The open scan (or none): names the paint label, removes islands.
  void set_session(ScanSession* session) { session_ = session; }
  /// Brush or Eraser with the panel's settings; none with Navigate.
  std::optional<BrushOptions> brush() const;
  /// Paints with label `value` from now on.
  void set_paint_label(int value);
  /// Shows the paint label's colour and name (the session's, else the default).
  void refresh_label_name();

  // --- for tests -----------------------------------------------------------
  QRadioButton* navigate_radio() const { return navigate_radio_; }
  QRadioButton* brush_radio() const { return brush_radio_; }
  QRadioButton* eraser_radio() const { return eraser_radio_; }
  QDoubleSpinBox* radius_spin() const { return radius_spin_; }
  QSpinBox* brush_label_spin() const { return brush_label_spin_; }

 Q_SIGNALS:
  /// Any setting that brush() depends on changed.
  void brush_changed();
  /// A short note for the status bar (`timeout_ms` as QStatusBar::showMessage).
  void status_message(const QString& message, int timeout_ms);

 private:
  void remove_islands();

  ScanSession* session_ = nullptr;
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
};

}  // namespace medseg::gui
