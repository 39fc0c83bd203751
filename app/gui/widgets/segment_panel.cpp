#include "app/gui/widgets/segment_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "app/gui/logic/scan_session.h"
#include "app/gui/widgets/job_runner.h"
#include "pipeline/infer/adaptation.h"

namespace medseg::gui {
namespace fs = std::filesystem;
namespace {

fs::path to_path(const QString& s) { return fs::path(s.toStdString()); }
QString qs(const std::string& s) { return QString::fromStdString(s); }
QString color_hex(const std::array<std::uint8_t, 3>& c) { return QColor(c[0], c[1], c[2]).name(); }
constexpr const char* kAutoItem = "auto (adapt to this scan)";

}  // namespace

SegmentPanel::SegmentPanel(fs::path models_dir, const JobRunner& jobs, QWidget* parent)
    : QWidget(parent), models_dir_(std::move(models_dir)), jobs_(jobs) {
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout();
  bundle_combo_ = new QComboBox(this);
  bundle_combo_->setObjectName(QStringLiteral("bundleCombo"));
  for (const fs::path& b : list_bundles(models_dir_)) {
    bundle_combo_->addItem(qs(b.filename().string()), qs(b.string()));
  }
  auto* choose = new QPushButton(tr("Folder…"), this);
  auto* bundle_row = new QHBoxLayout();
  bundle_row->addWidget(bundle_combo_, 1);
  bundle_row->addWidget(choose);
  form->addRow(tr("Model"), bundle_row);
  domain_combo_ = new QComboBox(this);
  domain_combo_->setObjectName(QStringLiteral("domainCombo"));
  form->addRow(tr("Scanner domain"), domain_combo_);
  precision_combo_ = new QComboBox(this);
  precision_combo_->setObjectName(QStringLiteral("precisionCombo"));
  precision_combo_->addItem(QString::fromStdString(auto_precision_label()), QStringLiteral("auto"));
  precision_combo_->addItem(QStringLiteral("fp32"), QStringLiteral("fp32"));
  precision_combo_->addItem(QStringLiteral("bf16"), QStringLiteral("bf16"));
  form->addRow(tr("Precision"), precision_combo_);
  tta_check_ = new QCheckBox(tr("Test-time augmentation (8 mirrorings, 8x time)"), this);
  tta_check_->setObjectName(QStringLiteral("ttaCheck"));
  form->addRow(QString(), tta_check_);
  layout->addLayout(form);
  run_button_ = new QPushButton(tr("Run segmentation"), this);
  run_button_->setObjectName(QStringLiteral("runButton"));
  layout->addWidget(run_button_);
  bundle_label_ = new QLabel(this);
  bundle_label_->setObjectName(QStringLiteral("bundleLabel"));
  bundle_label_->setWordWrap(true);
  bundle_label_->setTextFormat(Qt::RichText);
  bundle_label_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  layout->addWidget(bundle_label_);
  layout->addStretch(1);
  adapt_button_ = new QPushButton(tr("Adapt model to this scanner…"), this);
  adapt_button_->setToolTip(tr("AdaBN: re-estimates the model's normalization statistics on the open scan "
                               "and saves the model with a new domain"));
  layout->addWidget(adapt_button_);

  connect(bundle_combo_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { refresh_bundle_info(); });
  connect(choose, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Model bundle folder"), qs(models_dir_.string()));
    if (!dir.isEmpty()) set_bundle(dir);
  });
  connect(run_button_, &QPushButton::clicked, this, &SegmentPanel::run_requested);
  connect(adapt_button_, &QPushButton::clicked, this, &SegmentPanel::ask_adapt);
  refresh_bundle_info();
}

void SegmentPanel::ask_adapt() {
  if (!session_ || bundle_combo_->currentIndex() < 0) {
    Q_EMIT error_reported(tr("Adapt"), tr("Open a scan and choose a model first."));
    return;
  }
  bool ok = false;
  const QString domain = QInputDialog::getText(this, tr("Adapt model"), tr("Name of the new scanner domain:"),
                                               QLineEdit::Normal, QStringLiteral("my_scanner"), &ok);
  if (!ok || domain.isEmpty()) return;
  const QString parent_dir = QFileDialog::getExistingDirectory(this, tr("Folder to save the adapted model in"));
  if (parent_dir.isEmpty()) return;
  const QString name = QFileInfo(bundle_combo_->currentData().toString()).fileName() + "_" + domain;
  Q_EMIT adapt_requested(domain, QDir(parent_dir).filePath(name));
}

bool SegmentPanel::set_bundle(const QString& folder) {
  try {
    models::read_bundle_info(to_path(folder));  // refuse before listing it
  } catch (const std::exception& e) {
    Q_EMIT error_reported(tr("Model"), qs(e.what()));
    return false;
  }
  const QString canonical = qs(fs::weakly_canonical(to_path(folder)).string());
  int index = -1;
  for (int i = 0; i < bundle_combo_->count(); ++i) {
    if (qs(fs::weakly_canonical(to_path(bundle_combo_->itemData(i).toString())).string()) == canonical) index = i;
  }
  if (index < 0) {
    bundle_combo_->addItem(QFileInfo(folder).fileName(), folder);
    index = bundle_combo_->count() - 1;
  }
  bundle_combo_->setCurrentIndex(index);
  refresh_bundle_info();
  return bundle_info_.has_value();
}

void SegmentPanel::select_domain(const QString& domain) {
  const int d = domain_combo_->findData(domain);
  if (d >= 0) domain_combo_->setCurrentIndex(d);
}

void SegmentPanel::set_job_running(bool running) {
  run_button_->setEnabled(!running && bundle_info_.has_value());
  adapt_button_->setEnabled(!running);
}

QString SegmentPanel::bundle_folder() const {
  return bundle_combo_->currentIndex() < 0 ? QString() : bundle_combo_->currentData().toString();
}

std::vector<LabelDescription> SegmentPanel::bundle_label_table() const {
  if (!bundle_info_) return {};
  return labels_from_bundle(bundle_info_->labels);
}

SegmentRequest SegmentPanel::request() const {
  SegmentRequest request;
  request.bundle = to_path(bundle_combo_->currentData().toString());
  request.domain = domain_combo_->currentData().toString().toStdString();
  request.tta = tta_check_->isChecked();
  request.precision = resolve_precision(precision_combo_->currentData().toString().toStdString());
  return request;
}

void SegmentPanel::refresh_bundle_info() {
  bundle_info_.reset();
  domain_combo_->clear();
  if (bundle_combo_->currentIndex() < 0) {
    bundle_label_->setText(tr("No model. Choose a bundle folder (model.yaml + weights.pt)."));
    run_button_->setEnabled(false);
    return;
  }
  const QString folder = bundle_combo_->currentData().toString();
  try {
    bundle_info_ = models::read_bundle_info(to_path(folder));
  } catch (const std::exception& e) {
    bundle_label_->setText(tr("<b>Not usable:</b> %1").arg(qs(e.what()).toHtmlEscaped()));
    run_button_->setEnabled(false);
    return;
  }
  const models::BundleInfo& info = *bundle_info_;
  for (const auto& d : info.domains) domain_combo_->addItem(qs(d), qs(d));
  if (pipeline::has_batch_statistics(info.architecture)) domain_combo_->addItem(tr(kAutoItem), QStringLiteral("auto"));
  QString html = QStringLiteral("<b>%1</b> v%2<br>").arg(qs(info.name).toHtmlEscaped(), qs(info.version).toHtmlEscaped());
  html += tr("Input: %1<br>").arg(qs([&] {
    std::string s;
    for (const auto& c : info.channel_names) s += (s.empty() ? "" : ", ") + c;
    return s;
  }()).toHtmlEscaped());
  html += tr("Patch: %1×%2×%3 voxels<br>Labels:<br>")
              .arg(info.patch_size[0])
              .arg(info.patch_size[1])
              .arg(info.patch_size[2]);
  for (const auto& l : info.labels) {
    if (l.value == 0) continue;
    html += QStringLiteral("&nbsp;<span style='color:%1'>■</span> %2 %3<br>")
                .arg(color_hex(l.color))
                .arg(l.value)
                .arg(qs(l.name).toHtmlEscaped());
  }
  html += tr("Domains: %1").arg(qs([&] {
    std::string s;
    for (const auto& d : info.domains) s += (s.empty() ? "" : ", ") + d;
    return s.empty() ? std::string("(one)") : s;
  }()).toHtmlEscaped());
  bundle_label_->setText(html);
  run_button_->setEnabled(!jobs_.busy());
  if (session_) {
    for (const LabelDescription& d : bundle_label_table()) session_->set_label_description(d);
  }
}

}  // namespace medseg::gui
