#include "app/gui/widgets/statistics_panel.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>

#include "app/gui/logic/scan_session.h"

namespace medseg::gui {
namespace {

QString format_number(double v, int decimals) {
  return std::isfinite(v) ? QString::number(v, 'f', decimals) : QStringLiteral("–");
}

}  // namespace

StatisticsPanel::StatisticsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  const QStringList headers{tr("Label"), tr("Name"), tr("Voxels"), tr("mL"), tr("Mean ± SD"), tr("Dice")};
  stats_table_ = new QTableWidget(0, static_cast<int>(headers.size()), this);
  stats_table_->setObjectName(QStringLiteral("statisticsTable"));
  stats_table_->setHorizontalHeaderLabels(headers);
  stats_table_->verticalHeader()->hide();
  stats_table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  layout->addWidget(stats_table_, 1);
  auto* row = new QHBoxLayout();
  auto* reference = new QPushButton(tr("Load reference…"), this);
  auto* csv = new QPushButton(tr("Export CSV…"), this);
  row->addWidget(reference);
  row->addWidget(csv);
  layout->addLayout(row);
  connect(reference, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Reference label map"));
    if (!f.isEmpty()) Q_EMIT reference_chosen(f);
  });
  connect(csv, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Export statistics"), QStringLiteral("statistics.csv"),
                                                   tr("CSV (*.csv)"));
    if (!f.isEmpty()) export_csv(f);
  });
}

bool StatisticsPanel::export_csv(const QString& path) {
  if (!session_) return false;
  try {
    session_->export_statistics_csv(std::filesystem::path(path.toStdString()));
    return true;
  } catch (const std::exception& e) {
    Q_EMIT error_reported(tr("Export statistics"), QString::fromStdString(e.what()));
    return false;
  }
}

void StatisticsPanel::refresh() {
  if (!session_) {
    stats_table_->setRowCount(0);
    return;
  }
  const auto rows = session_->statistics();
  stats_table_->setRowCount(static_cast<int>(rows.size()));
  for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
    const LabelStatisticsRow& s = rows[static_cast<std::size_t>(r)];
    const LabelDescription d = session_->describe(s.label);
    auto* label = new QTableWidgetItem(QString::number(s.label));
    label->setBackground(QColor(d.color[0], d.color[1], d.color[2]));
    stats_table_->setItem(r, 0, label);
    stats_table_->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(d.name)));
    stats_table_->setItem(r, 2, new QTableWidgetItem(QString::number(s.voxels)));
    stats_table_->setItem(r, 3, new QTableWidgetItem(format_number(s.volume_ml, 2)));
    stats_table_->setItem(
        r, 4,
        new QTableWidgetItem(std::isfinite(s.mean) ? QStringLiteral("%1 ± %2").arg(s.mean, 0, 'f', 1).arg(s.sd, 0, 'f', 1)
                                                   : QStringLiteral("–")));
    stats_table_->setItem(r, 5, new QTableWidgetItem(format_number(s.dice, 3)));
  }
  stats_table_->resizeColumnsToContents();
}

}  // namespace medseg::gui
