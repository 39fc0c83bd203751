#include "app/gui/widgets/dicom_series_dialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

namespace medseg::gui {

DicomSeriesDialog::DicomSeriesDialog(const std::vector<pipeline::DicomSeriesInfo>& series, const QString& folder,
                                     QWidget* parent)
    : QDialog(parent), table_(new QTableWidget(static_cast<int>(series.size()), 4, this)) {
  setObjectName(QStringLiteral("dicomSeriesDialog"));
  setWindowTitle(tr("Choose a DICOM series"));
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("%1 holds %2 series. Open which one?").arg(folder).arg(series.size()), this));
  table_->setObjectName(QStringLiteral("seriesTable"));
  table_->setHorizontalHeaderLabels({tr("Description"), tr("Modality"), tr("Slices"), tr("Series UID")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  for (int r = 0; r < static_cast<int>(series.size()); ++r) {
    const auto& s = series[static_cast<std::size_t>(r)];
    table_->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(s.description.empty() ? "(none)" : s.description)));
    table_->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(s.modality)));
    table_->setItem(r, 2, new QTableWidgetItem(QString::number(s.files.size())));
    table_->setItem(r, 3, new QTableWidgetItem(QString::fromStdString(s.uid)));
  }
  table_->resizeColumnsToContents();
  if (!series.empty()) table_->selectRow(0);
  layout->addWidget(table_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(table_, &QTableWidget::cellDoubleClicked, this, &QDialog::accept);
  layout->addWidget(buttons);
  resize(640, 300);
}

int DicomSeriesDialog::chosen() const {
  const auto rows = table_->selectionModel()->selectedRows();
  return rows.isEmpty() ? -1 : rows.first().row();
}

}  // namespace medseg::gui
