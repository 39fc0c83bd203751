#include "app/gui/widgets/labels_panel.h"

#include <QCheckBox>
#include <QColorDialog>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSlider>
#include <QTableWidget>
#include <QVBoxLayout>

#include "app/gui/logic/scan_session.h"

namespace medseg::gui {

LabelsPanel::LabelsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  const QStringList headers{tr("Show"), tr("Colour"), tr("Value"), tr("Name")};
  label_table_ = new QTableWidget(0, static_cast<int>(headers.size()), this);
  label_table_->setObjectName(QStringLiteral("labelTable"));
  label_table_->setHorizontalHeaderLabels(headers);
  label_table_->verticalHeader()->hide();
  label_table_->horizontalHeader()->setStretchLastSection(true);
  label_table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  label_table_->setSelectionMode(QAbstractItemView::NoSelection);
  layout->addWidget(label_table_, 1);
  auto* form = new QFormLayout();
  opacity_slider_ = new QSlider(Qt::Horizontal, this);
  opacity_slider_->setObjectName(QStringLiteral("opacitySlider"));
  opacity_slider_->setRange(0, 100);
  opacity_slider_->setValue(50);
  form->addRow(tr("Opacity"), opacity_slider_);
  outline_check_ = new QCheckBox(tr("Outline only"), this);
  form->addRow(QString(), outline_check_);
  layout->addLayout(form);
  layout->addWidget(new QLabel(tr("Click a name to paint it; double-click a colour or name to change it."), this));

  connect(label_table_, &QTableWidget::cellClicked, this, [this](int row, int column) {
    if (column >= 2) Q_EMIT paint_label_chosen(label_table_->item(row, 0)->data(Qt::UserRole).toInt());
  });
  connect(label_table_, &QTableWidget::itemChanged, this, &LabelsPanel::on_item_changed);
  connect(label_table_, &QTableWidget::cellDoubleClicked, this, &LabelsPanel::choose_colour);
  connect(opacity_slider_, &QSlider::valueChanged, this, [this](int v) {
    if (session_) session_->set_overlay_opacity(v / 100.0);
  });
  connect(outline_check_, &QCheckBox::toggled, this, &LabelsPanel::outline_toggled);
}

double LabelsPanel::opacity() const { return opacity_slider_->value() / 100.0; }

void LabelsPanel::on_item_changed(QTableWidgetItem* item) {
  if (!session_) return;
  const auto value = static_cast<std::int16_t>(label_table_->item(item->row(), 0)->data(Qt::UserRole).toInt());
  LabelDescription d = session_->describe(value);
  if (item->column() == 0) {
    const bool visible = item->checkState() == Qt::Checked;
    if (d.visible == visible) return;
    d.visible = visible;
  } else if (item->column() == 3) {
    const std::string name = item->text().trimmed().toStdString();
    if (name.empty() || name == d.name) return;
    d.name = name;  // shown in the status bar and statistics, saved in the label table CSV
  } else {
    return;
  }
  session_->set_label_description(d);
}

void LabelsPanel::choose_colour(int row, int column) {
  if (!session_ || column != 1) return;
  LabelDescription d =
      session_->describe(static_cast<std::int16_t>(label_table_->item(row, 0)->data(Qt::UserRole).toInt()));
  const QColor c = QColorDialog::getColor(QColor(d.color[0], d.color[1], d.color[2]), this);
  if (!c.isValid()) return;
  d.color = {static_cast<std::uint8_t>(c.red()), static_cast<std::uint8_t>(c.green()),
             static_cast<std::uint8_t>(c.blue())};
  session_->set_label_description(d);
}

void LabelsPanel::refresh() {
  const QSignalBlocker block(label_table_);
  if (!session_) {
    label_table_->setRowCount(0);
    return;
  }
  const auto& table = session_->label_table();
  label_table_->setRowCount(static_cast<int>(table.size()));
  for (int r = 0; r < static_cast<int>(table.size()); ++r) {
    const LabelDescription& d = table[static_cast<std::size_t>(r)];
    auto* eye = new QTableWidgetItem();
    eye->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
    eye->setCheckState(d.visible ? Qt::Checked : Qt::Unchecked);
    eye->setData(Qt::UserRole, d.value);
    label_table_->setItem(r, 0, eye);
    auto* swatch = new QTableWidgetItem();
    swatch->setFlags(Qt::ItemIsEnabled);
    swatch->setBackground(QColor(d.color[0], d.color[1], d.color[2]));
    label_table_->setItem(r, 1, swatch);
    auto* value = new QTableWidgetItem(QString::number(d.value));
    value->setFlags(Qt::ItemIsEnabled);
    label_table_->setItem(r, 2, value);
    auto* name = new QTableWidgetItem(QString::fromStdString(d.name));
    name->setFlags(Qt::ItemIsEnabled | Qt::ItemIsEditable);
    name->setToolTip(tr("Double-click to rename"));
    label_table_->setItem(r, 3, name);
  }
  label_table_->resizeColumnsToContents();
}

}  // namespace medseg::gui
