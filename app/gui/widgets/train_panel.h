#pragma once
// The Train panel: open a YAML training config (shown with the line of any
// validation error marked), start / stop / resume `medseg train` as a
// detached child process, and plot the run's loss and per-label validation
// Dice live from its log.jsonl (Qt Charts). The run outlives the GUI: its
// pid is kept in the run folder, so reopening the config follows (and can
// stop) a run that is still going. When a run finishes, bundle_ready offers
// its best bundle to the Segment panel.
#include <QString>
#include <QWidget>

#include <filesystem>
#include <optional>
#include <vector>

#include <sys/types.h>

#include "app/gui/logic/training_run.h"

class QChart;
class QChartView;
class QLabel;
class QLineSeries;
class QPlainTextEdit;
class QPushButton;
class QTimer;
class QValueAxis;

namespace medseg::gui {

class TrainPanel : public QWidget {
  Q_OBJECT

 public:
  /// `medseg_cli`: the `medseg` program to run (find_medseg_cli); empty
  /// disables Start with a message saying so.
  explicit TrainPanel(std::filesystem::path medseg_cli, QWidget* parent = nullptr);
  ~TrainPanel() override;

  /// Shows the config; true when it is valid. A run of it still going (a
  /// GUI restarted meanwhile) is followed from here on.
  bool open_config(const QString& path);
  /// Starts `medseg train` (resume: `--resume`). False after error_reported.
  bool start(bool resume);
  /// Asks the run to stop (SIGTERM); its last complete epoch stays in the
  /// checkpoint, so Resume continues from there.
  void stop();
  bool running() const { return pid_.has_value(); }
  /// Reads the log and checks the process now (the timer does it every 0.5 s).
  void poll();

  // --- for tests -----------------------------------------------------------
  QLineSeries* loss_series() const { return loss_series_; }
  const std::vector<QLineSeries*>& dice_series() const { return dice_series_; }
  QLabel* message_label() const { return message_label_; }
  QPlainTextEdit* config_view() const { return config_view_; }
  QPushButton* start_button() const { return start_button_; }
  QPushButton* stop_button() const { return stop_button_; }
  QPushButton* resume_button() const { return resume_button_; }
  std::optional<pid_t> pid() const { return pid_; }

 Q_SIGNALS:
  void error_reported(const QString& title, const QString& message);
  /// A run finished all its epochs: its model_best folder.
  void bundle_ready(const QString& folder);
  /// Started, stopped, finished or failed.
  void run_state_changed();

 private:
  void show_config_text(int error_line);
  void refresh_buttons();
  void refresh_chart(const std::vector<TrainingLogEntry>& log);
  void on_run_ended();
  void set_message(const QString& text, bool error);

  std::filesystem::path medseg_cli_;
  std::filesystem::path config_;
  TrainingConfigCheck check_;
  std::optional<pid_t> pid_;
  bool stop_requested_ = false;
  std::size_t plotted_epochs_ = 0;

  QLabel* config_label_ = nullptr;
  QPlainTextEdit* config_view_ = nullptr;
  QLabel* message_label_ = nullptr;
  QPushButton* start_button_ = nullptr;
  QPushButton* stop_button_ = nullptr;
  QPushButton* resume_button_ = nullptr;
  QChart* loss_chart_ = nullptr;
  QChart* dice_chart_ = nullptr;
  QValueAxis* loss_x_ = nullptr;
  QValueAxis* loss_y_ = nullptr;
  QValueAxis* dice_x_ = nullptr;
  QValueAxis* dice_y_ = nullptr;
  QLineSeries* loss_series_ = nullptr;
  std::vector<QLineSeries*> dice_series_;  ///< per foreground label, then the mean
  QTimer* timer_ = nullptr;
};

}  // namespace medseg::gui
