#include "app/gui/widgets/dicom_series_dialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace medseg::gui {
namespace {

QString text(const std::string& s) { return QString::fromStdString(s); }

/// DICOM's "Family^Given^Middle^Prefix^Suffix" as "Family, Given Middle".
QString person_name(const std::string& dicom) {
  const QStringList parts = text(dicom).split(QLatin1Char('^'));
  QString given;
  for (int i = 1; i < std::min<int>(3, static_cast<int>(parts.size())); ++i) {
    if (!parts[i].trimmed().isEmpty()) given += (given.isEmpty() ? QString() : QStringLiteral(" ")) + parts[i].trimmed();
  }
  const QString family = parts.value(0).trimmed();
  return given.isEmpty() ? family : family + QStringLiteral(", ") + given;
}

/// YYYYMMDD as YYYY-MM-DD; anything else as stored.
QString study_date(const std::string& dicom) {
  const QString d = text(dicom);
  if (d.size() != 8 || !std::all_of(dicom.begin(), dicom.end(), [](char c) { return c >= '0' && c <= '9'; })) return d;
  return d.left(4) + QLatin1Char('-') + d.mid(4, 2) + QLatin1Char('-') + d.mid(6, 2);
}

}  // namespace

DicomSeriesDialog::DicomSeriesDialog(const std::vector<pipeline::DicomSeriesInfo>& series, const QString& folder,
                                     QWidget* parent)
    : QDialog(parent), table_(new QTableWidget(static_cast<int>(series.size()), kColumns, this)) {
  setObjectName(QStringLiteral("dicomSeriesDialog"));
  setWindowTitle(tr("Choose a DICOM series"));
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("%1 holds %2 series. Open which one?").arg(folder).arg(series.size()), this));
  table_->setObjectName(QStringLiteral("seriesTable"));
  table_->setHorizontalHeaderLabels({tr("Patient"), tr("Study date"), tr("Study"), tr("Series"), tr("Modality"),
                                     tr("Slices"), tr("Series UID")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  for (int r = 0; r < static_cast<int>(series.size()); ++r) {
    const auto& s = series[static_cast<std::size_t>(r)];
    QString patient = person_name(s.patient_name);
    if (!s.patient_id.empty()) patient += QStringLiteral(" (%1)").arg(text(s.patient_id));
    const QString cells[kColumns] = {patient,
                                     study_date(s.study_date),
                                     text(s.study_description),
                                     text(s.description.empty() ? "(none)" : s.description),
                                     text(s.modality),
                                     QString::number(s.files.size()),
                                     text(s.uid)};
    for (int c = 0; c < kColumns; ++c) table_->setItem(r, c, new QTableWidgetItem(cells[c]));
  }
  table_->resizeColumnsToContents();
  if (!series.empty()) table_->selectRow(0);
  layout->addWidget(table_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(table_, &QTableWidget::cellDoubleClicked, this, &QDialog::accept);
  layout->addWidget(buttons);
  resize(820, 300);
}

int DicomSeriesDialog::chosen() const {
  const auto rows = table_->selectionModel()->selectedRows();
  return rows.isEmpty() ? -1 : rows.first().row();
}

}  // namespace medseg::gui
