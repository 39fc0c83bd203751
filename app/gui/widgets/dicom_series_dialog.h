#pragma once
// Picks one series when a DICOM folder holds several (ITK-SNAP's users
// complain when dropping a folder silently loads one slice or the wrong
// series). Shows what pipeline::DicomSeriesInfo offers: description,
// modality, number of slices, series UID. (Patient name and study date are
// not listed by the pipeline's reader; they are left out rather than read a
// second time here.)
#include <QDialog>

#include <vector>

#include "pipeline/io/volume_reader.h"

class QTableWidget;

namespace medseg::gui {

class DicomSeriesDialog : public QDialog {
  Q_OBJECT

 public:
  DicomSeriesDialog(const std::vector<pipeline::DicomSeriesInfo>& series, const QString& folder,
                    QWidget* parent = nullptr);
  /// Row (= index into the series given) selected, or -1.
  int chosen() const;
  QTableWidget* table() const { return table_; }

 private:
  QTableWidget* table_;
};

}  // namespace medseg::gui
