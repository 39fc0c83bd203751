#pragma once
// The Labels panel: the open scan's label table (visibility, colour, name),
// overlay opacity and outline. Edits go straight to the ScanSession, which
// tells every view; what belongs to other widgets (the paint label of the
// Edit panel, the views' outline mode) leaves as signals MainWindow wires.
#include <QWidget>

class QCheckBox;
class QSlider;
class QTableWidget;
class QTableWidgetItem;

namespace medseg::gui {

class ScanSession;

class LabelsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit LabelsPanel(QWidget* parent = nullptr);

  /// The open scan (or none); refresh() shows its table.
  void set_session(ScanSession* session) { session_ = session; }
  /// Rebuilds the table from the session's label table.
  void refresh();
  /// The slider's overlay opacity, 0..1 (a newly opened scan starts with it).
  double opacity() const;

  // --- for tests -----------------------------------------------------------
  QTableWidget* label_table() const { return label_table_; }

 Q_SIGNALS:
  /// A label's value or name was clicked: paint with it.
  void paint_label_chosen(int value);
  void outline_toggled(bool on);

 private:
  void on_item_changed(QTableWidgetItem* item);
  void choose_colour(int row, int column);

  ScanSession* session_ = nullptr;
  QTableWidget* label_table_ = nullptr;
  QSlider* opacity_slider_ = nullptr;
  QCheckBox* outline_check_ = nullptr;
};

}  // namespace medseg::gui
