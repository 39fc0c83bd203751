#include "app/gui/widgets/train_panel.h"

#include <signal.h>

#include <QChart>
#include <QChartView>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QPainter>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QTextBlock>
#include <QTimer>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "models/bundle.h"

namespace medseg::gui {
namespace fs = std::filesystem;
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

/// The line number in a loader message ("… line 7 …"), or 0.
int error_line(const std::string& message) {
  const auto match = QRegularExpression(QStringLiteral("\\bline (\\d+)")).match(qs(message));
  return match.hasMatch() ? match.captured(1).toInt() : 0;
}

QChart* make_chart(const QString& title, QValueAxis*& x, QValueAxis*& y, QWidget* parent, QChartView*& view) {
  auto* chart = new QChart();
  chart->setTitle(title);
  chart->legend()->setAlignment(Qt::AlignBottom);
  x = new QValueAxis(chart);
  x->setTitleText(QObject::tr("epoch"));
  x->setLabelFormat(QStringLiteral("%d"));
  y = new QValueAxis(chart);
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  view = new QChartView(chart, parent);
  view->setRenderHint(QPainter::Antialiasing);
  view->setMinimumHeight(180);
  return chart;
}

QLineSeries* add_series(QChart* chart, QValueAxis* x, QValueAxis* y, const QString& name) {
  auto* series = new QLineSeries(chart);
  series->setName(name);
  series->setPointsVisible(true);
  chart->addSeries(series);
  series->attachAxis(x);
  series->attachAxis(y);
  return series;
}

}  // namespace

TrainPanel::TrainPanel(fs::path medseg_cli, QWidget* parent) : QWidget(parent), medseg_cli_(std::move(medseg_cli)) {
  auto* layout = new QVBoxLayout(this);
  auto* open = new QPushButton(tr("Open config…"), this);
  open->setObjectName(QStringLiteral("openConfigButton"));
  config_label_ = new QLabel(tr("No training config."), this);
  config_label_->setWordWrap(true);
  auto* top = new QHBoxLayout();
  top->addWidget(open);
  top->addWidget(config_label_, 1);
  layout->addLayout(top);

  config_view_ = new QPlainTextEdit(this);
  config_view_->setObjectName(QStringLiteral("configView"));
  config_view_->setReadOnly(true);
  config_view_->setLineWrapMode(QPlainTextEdit::NoWrap);
  config_view_->setMaximumHeight(160);
  layout->addWidget(config_view_);

  message_label_ = new QLabel(this);
  message_label_->setObjectName(QStringLiteral("trainMessage"));
  message_label_->setWordWrap(true);
  message_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(message_label_);

  auto* buttons = new QHBoxLayout();
  start_button_ = new QPushButton(tr("Start"), this);
  stop_button_ = new QPushButton(tr("Stop"), this);
  resume_button_ = new QPushButton(tr("Resume"), this);
  start_button_->setObjectName(QStringLiteral("trainStartButton"));
  stop_button_->setObjectName(QStringLiteral("trainStopButton"));
  resume_button_->setObjectName(QStringLiteral("trainResumeButton"));
  stop_button_->setToolTip(tr("Stops the run; the checkpoint of its last complete epoch is kept for Resume"));
  for (QPushButton* b : {start_button_, stop_button_, resume_button_}) buttons->addWidget(b);
  layout->addLayout(buttons);

  QChartView* loss_view = nullptr;
  QChartView* dice_view = nullptr;
  loss_chart_ = make_chart(tr("Training loss"), loss_x_, loss_y_, this, loss_view);
  dice_chart_ = make_chart(tr("Validation Dice"), dice_x_, dice_y_, this, dice_view);
  loss_chart_->legend()->hide();
  dice_y_->setRange(0.0, 1.0);
  loss_series_ = add_series(loss_chart_, loss_x_, loss_y_, tr("loss"));
  layout->addWidget(loss_view, 1);
  layout->addWidget(dice_view, 1);

  timer_ = new QTimer(this);
  timer_->setInterval(500);
  connect(timer_, &QTimer::timeout, this, &TrainPanel::poll);
  connect(open, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Training config"), QString(), tr("YAML (*.yaml *.yml)"));
    if (!f.isEmpty()) open_config(f);
  });
  connect(start_button_, &QPushButton::clicked, this, [this] { start(/*resume=*/false); });
  connect(resume_button_, &QPushButton::clicked, this, [this] { start(/*resume=*/true); });
  connect(stop_button_, &QPushButton::clicked, this, &TrainPanel::stop);
  if (medseg_cli_.empty()) set_message(tr("The medseg program was not found beside medseg-gui: training is off."), true);
  refresh_buttons();
}

// The run is a detached process on purpose: closing the GUI leaves it
// running (MainWindow asks first), and reopening the config follows it again.
TrainPanel::~TrainPanel() = default;

void TrainPanel::set_message(const QString& text, bool error) {
  message_label_->setText(text);
  message_label_->setStyleSheet(error ? QStringLiteral("color: #c0392b") : QString());
}

bool TrainPanel::open_config(const QString& path) {
  if (pid_) {
    Q_EMIT error_reported(tr("Train"), tr("A run is going: stop it before opening another config."));
    return false;
  }
  config_ = fs::path(path.toStdString());
  check_ = check_training_config(config_);
  config_label_->setText(QFileInfo(path).fileName());
  config_label_->setToolTip(path);
  show_config_text(check_.error.empty() ? 0 : error_line(check_.error));
  plotted_epochs_ = 0;
  refresh_chart({});
  if (!check_.error.empty()) {
    set_message(qs(check_.error), true);
    refresh_buttons();
    return false;
  }
  pid_ = running_training(check_.output);
  if (pid_) {
    stop_requested_ = false;
    set_message(tr("A run of this config is going (pid %1): following it.").arg(*pid_), false);
    timer_->start();
  } else {
    set_message(check_.resumable ? tr("%1 epochs; the run folder holds a checkpoint: Resume continues it.")
                                       .arg(check_.epochs)
                                 : tr("%1 epochs, output %2.").arg(check_.epochs).arg(qs(check_.output.string())),
                false);
  }
  poll();
  refresh_buttons();
  return true;
}

void TrainPanel::show_config_text(int line) {
  std::ifstream in(config_);
  std::ostringstream text;
  text << in.rdbuf();
  config_view_->setPlainText(qs(text.str()));
  QList<QTextEdit::ExtraSelection> marks;
  if (line > 0) {
    const QTextBlock block = config_view_->document()->findBlockByLineNumber(line - 1);
    if (block.isValid()) {
      QTextEdit::ExtraSelection mark;
      mark.format.setBackground(QColor(255, 205, 205));
      mark.format.setProperty(QTextFormat::FullWidthSelection, true);
      mark.cursor = QTextCursor(block);
      marks.append(mark);
      config_view_->setTextCursor(mark.cursor);
      config_view_->ensureCursorVisible();
    }
  }
  config_view_->setExtraSelections(marks);
}

bool TrainPanel::start(bool resume) {
  if (pid_ || config_.empty()) return false;
  check_ = check_training_config(config_);  // the file may have been edited since it was opened
  if (!check_.error.empty()) {
    show_config_text(error_line(check_.error));
    set_message(qs(check_.error), true);
    Q_EMIT error_reported(tr("Train"), qs(check_.error));
    refresh_buttons();
    return false;
  }
  std::error_code ec;
  fs::create_directories(check_.output, ec);
  QProcess process;
  process.setProgram(qs(medseg_cli_.string()));
  QStringList args;
  for (const std::string& a : train_arguments(config_, resume)) args << qs(a);
  process.setArguments(args);
  const QString console = qs(training_console_file(check_.output).string());
  process.setStandardOutputFile(console, resume ? QIODevice::Append : QIODevice::Truncate);
  process.setStandardErrorFile(console, QIODevice::Append);
  process.setStandardInputFile(QProcess::nullDevice());
  qint64 pid = 0;
  if (ec || !process.startDetached(&pid)) {
    const QString message = tr("could not start '%1' in '%2'").arg(qs(medseg_cli_.string()), qs(check_.output.string()));
    set_message(message, true);
    Q_EMIT error_reported(tr("Train"), message);
    return false;
  }
  pid_ = static_cast<pid_t>(pid);
  try {
    core::write_text_file_atomically(training_pid_file(check_.output), std::to_string(pid) + "\n");
  } catch (const std::exception&) {
    // Only following the run from a restarted GUI needs the file.
  }
  stop_requested_ = false;
  if (!resume) {
    plotted_epochs_ = 0;
    refresh_chart({});
  }
  set_message(resume ? tr("Resuming (pid %1)…").arg(pid) : tr("Training (pid %1)…").arg(pid), false);
  timer_->start();
  refresh_buttons();
  Q_EMIT run_state_changed();
  return true;
}

void TrainPanel::stop() {
  if (!pid_) return;
  stop_requested_ = true;
  ::kill(*pid_, SIGTERM);
  set_message(tr("Stopping…"), false);
}

void TrainPanel::poll() {
  if (check_.output.empty()) return;
  try {
    const auto log = read_training_log(check_.output);
    if (log.size() != plotted_epochs_) refresh_chart(log);
  } catch (const std::exception& e) {
    set_message(qs(e.what()), true);
  }
  if (pid_ && !process_alive(*pid_)) on_run_ended();
}

void TrainPanel::on_run_ended() {
  timer_->stop();
  pid_.reset();
  std::error_code ec;
  fs::remove(training_pid_file(check_.output), ec);
  check_ = check_training_config(config_);
  const auto log = read_training_log(check_.output);
  refresh_chart(log);
  const fs::path best = check_.output / "model_best";
  const std::int64_t done = log.empty() ? 0 : log.back().epoch;
  if (done >= check_.epochs && fs::exists(best / "model.yaml")) {
    set_message(tr("Finished %1 epochs. Best model: %2").arg(done).arg(qs(best.string())), false);
    Q_EMIT bundle_ready(qs(best.string()));
  } else if (stop_requested_) {
    set_message(tr("Stopped after epoch %1 of %2: Resume continues from there.").arg(done).arg(check_.epochs), false);
  } else {
    std::string error = last_error_line(training_console_file(check_.output));
    if (error.empty()) error = "medseg train ended after epoch " + std::to_string(done) + " of " +
                               std::to_string(check_.epochs) + " (see " +
                               training_console_file(check_.output).string() + ")";
    set_message(qs(error), true);
    Q_EMIT error_reported(tr("Train"), qs(error));
  }
  refresh_buttons();
  Q_EMIT run_state_changed();
}

void TrainPanel::refresh_buttons() {
  const bool valid = !config_.empty() && check_.error.empty() && !medseg_cli_.empty();
  start_button_->setEnabled(valid && !pid_ && !check_.resumable);
  resume_button_->setEnabled(valid && !pid_ && check_.resumable);
  stop_button_->setEnabled(pid_.has_value());
}

void TrainPanel::refresh_chart(const std::vector<TrainingLogEntry>& log) {
  plotted_epochs_ = log.size();
  QList<QPointF> loss;
  double max_loss = 0.0;
  for (const auto& e : log) {
    loss.append(QPointF(static_cast<double>(e.epoch), e.train_loss));
    if (std::isfinite(e.train_loss)) max_loss = std::max(max_loss, e.train_loss);
  }
  loss_series_->replace(loss);
  const double last_epoch = std::max<double>(check_.epochs, log.empty() ? 1.0 : static_cast<double>(log.back().epoch));
  loss_x_->setRange(1.0, std::max(2.0, last_epoch));
  loss_y_->setRange(0.0, max_loss > 0.0 ? 1.1 * max_loss : 1.0);
  dice_x_->setRange(1.0, std::max(2.0, last_epoch));

  // One series per foreground label (named from the run's last bundle once
  // there is one), and the mean.
  std::size_t labels = 0;
  for (const auto& e : log) labels = std::max(labels, e.validation_dice.size());
  if (dice_series_.size() != (labels == 0 ? 0 : labels + 1)) {
    for (QLineSeries* s : dice_series_) {
      dice_chart_->removeSeries(s);
      delete s;
    }
    dice_series_.clear();
    std::vector<std::string> names;
    try {
      for (const auto& l : models::read_bundle_info(check_.output / "model_last").labels) names.push_back(l.name);
    } catch (const std::exception&) {
      // No bundle yet: numbered labels.
    }
    for (std::size_t k = 1; k <= labels; ++k) {
      const QString name = k < names.size() ? qs(names[k]) : tr("label %1").arg(k);
      dice_series_.push_back(add_series(dice_chart_, dice_x_, dice_y_, QStringLiteral("%1 %2").arg(k).arg(name)));
    }
    if (labels > 0) {
      QLineSeries* mean = add_series(dice_chart_, dice_x_, dice_y_, tr("mean"));
      QPen pen = mean->pen();
      pen.setWidth(3);
      pen.setColor(Qt::black);
      mean->setPen(pen);
      dice_series_.push_back(mean);
    }
  }
  if (labels == 0) return;
  std::vector<QList<QPointF>> points(labels + 1);
  for (const auto& e : log) {
    if (e.validation_dice.empty()) continue;
    const double x = static_cast<double>(e.epoch);
    for (std::size_t k = 0; k < e.validation_dice.size(); ++k) {
      if (std::isfinite(e.validation_dice[k])) points[k].append(QPointF(x, e.validation_dice[k]));
    }
    points[labels].append(QPointF(x, e.mean_validation_dice));
  }
  for (std::size_t k = 0; k <= labels; ++k) dice_series_[k]->replace(points[k]);
}

}  // namespace medseg::gui
