#include "app/gui/widgets/edit_panel.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "app/gui/logic/scan_session.h"

namespace medseg::gui {

EditPanel::EditPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* tools = new QGroupBox(tr("Tool"), this);
  auto* tl = new QHBoxLayout(tools);
  navigate_radio_ = new QRadioButton(tr("Navigate"), tools);
  brush_radio_ = new QRadioButton(tr("Brush"), tools);
  eraser_radio_ = new QRadioButton(tr("Eraser"), tools);
  navigate_radio_->setChecked(true);
  tl->addWidget(navigate_radio_);
  tl->addWidget(brush_radio_);
  tl->addWidget(eraser_radio_);
  auto* group = new QButtonGroup(this);
  group->addButton(navigate_radio_);
  group->addButton(brush_radio_);
  group->addButton(eraser_radio_);
  layout->addWidget(tools);

  auto* form = new QFormLayout();
  radius_spin_ = new QDoubleSpinBox(this);
  radius_spin_->setRange(0.1, 100.0);
  radius_spin_->setDecimals(1);
  radius_spin_->setValue(3.0);
  radius_spin_->setSuffix(QStringLiteral(" mm"));
  form->addRow(tr("Radius"), radius_spin_);
  brush_label_spin_ = new QSpinBox(this);
  brush_label_spin_->setRange(1, 32767);
  brush_label_name_ = new QLabel(this);
  auto* label_row = new QHBoxLayout();
  label_row->addWidget(brush_label_spin_);
  label_row->addWidget(brush_label_name_, 1);
  form->addRow(tr("Paint label"), label_row);
  protect_check_ = new QCheckBox(tr("Protect other labels"), this);
  protect_check_->setToolTip(tr("Paint only over background and this label; erase only this label"));
  form->addRow(QString(), protect_check_);
  range_check_ = new QCheckBox(tr("Only intensities in"), this);
  form->addRow(QString(), range_check_);
  range_check_->setObjectName(QStringLiteral("rangeCheck"));
  range_min_ = new QDoubleSpinBox(this);
  range_max_ = new QDoubleSpinBox(this);
  range_min_->setObjectName(QStringLiteral("rangeMin"));
  range_max_->setObjectName(QStringLiteral("rangeMax"));
  for (QDoubleSpinBox* s : {range_min_, range_max_}) {
    s->setRange(-1e6, 1e6);
    s->setDecimals(1);
  }
  range_min_->setValue(-1000);
  range_max_->setValue(3000);
  auto* range_row = new QHBoxLayout();
  range_row->addWidget(range_min_);
  range_row->addWidget(new QLabel(QStringLiteral("…"), this));
  range_row->addWidget(range_max_);
  form->addRow(tr("Range"), range_row);
  layout->addLayout(form);

  auto* islands = new QGroupBox(tr("Remove small islands (3D, all labels)"), this);
  auto* il = new QHBoxLayout(islands);
  islands_spin_ = new QDoubleSpinBox(islands);
  islands_spin_->setRange(0.001, 1e5);
  islands_spin_->setDecimals(3);
  islands_spin_->setValue(0.5);
  islands_spin_->setSuffix(QStringLiteral(" mL"));
  auto* islands_button = new QPushButton(tr("Remove"), islands);
  islands_button->setObjectName(QStringLiteral("removeIslandsButton"));
  il->addWidget(new QLabel(tr("smaller than"), islands));
  il->addWidget(islands_spin_);
  il->addWidget(islands_button);
  layout->addWidget(islands);
  layout->addWidget(new QLabel(tr("Ctrl+Z undo, Ctrl+Shift+Z redo (each stroke is one step)"), this));
  layout->addStretch(1);

  for (QRadioButton* r : {navigate_radio_, brush_radio_, eraser_radio_}) {
    connect(r, &QRadioButton::toggled, this, &EditPanel::brush_changed);
  }
  connect(radius_spin_, QOverload<double>::of(&QDoubleSpinBox::valueChanged), this, &EditPanel::brush_changed);
  connect(brush_label_spin_, QOverload<int>::of(&QSpinBox::valueChanged), this, [this] {
    Q_EMIT brush_changed();
    refresh_label_name();
  });
  for (QCheckBox* c : {protect_check_, range_check_}) {
    connect(c, &QCheckBox::toggled, this, &EditPanel::brush_changed);
  }
  for (QDoubleSpinBox* s : {range_min_, range_max_}) {
    connect(s, QOverload<double>::of(&QDoubleSpinBox::valueChanged), this, &EditPanel::brush_changed);
  }
  connect(islands_button, &QPushButton::clicked, this, &EditPanel::remove_islands);
}

std::optional<BrushOptions> EditPanel::brush() const {
  if (!brush_radio_->isChecked() && !eraser_radio_->isChecked()) return std::nullopt;
  BrushOptions b;
  b.mode = brush_radio_->isChecked() ? BrushMode::kPaint : BrushMode::kErase;
  b.radius_mm = radius_spin_->value();
  b.label = static_cast<std::int16_t>(brush_label_spin_->value());
  b.protect_other_labels = protect_check_->isChecked();
  if (range_check_->isChecked()) b.intensity_range = std::array<double, 2>{range_min_->value(), range_max_->value()};
  return b;
}

void EditPanel::set_paint_label(int value) { brush_label_spin_->setValue(value); }

void EditPanel::refresh_label_name() {
  const auto value = static_cast<std::int16_t>(brush_label_spin_->value());
  const LabelDescription d = session_ ? session_->describe(value) : default_label_description(value);
  brush_label_name_->setText(QStringLiteral("<span style='color:%1'>■</span> %2")
                                 .arg(QColor(d.color[0], d.color[1], d.color[2]).name(),
                                      QString::fromStdString(d.name).toHtmlEscaped()));
}

void EditPanel::remove_islands() {
  if (!session_) return;
  const auto removed = session_->remove_islands(islands_spin_->value(), Connectivity::kFaces6);
  Q_EMIT status_message(tr("%1 voxels removed").arg(removed), 5000);
}

}  // namespace medseg::gui
