#pragma once
// Picks one series when a DICOM folder holds several (ITK-SNAP's users
// complain when dropping a folder silently loads one slice or the wrong
// series). Shows what pipeline::DicomSeriesInfo offers: patient (name and
// ID), study date and description, series description, modality, number of
// slices, series UID.
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
  enum Column { kPatient, kStudyDate, kStudy, kSeries, kModality, kSlices, kSeriesUid, kColumns };

 private:
  QTableWidget* table_;
};

}  // namespace medseg::gui
