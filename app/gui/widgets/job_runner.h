#pragma once
// Runs one long job at a time (read, segment, adapt) on a worker thread with
// QtConcurrent::run and hands its result back on the UI thread through a
// QFutureWatcher, so the UI keeps processing events while it runs.
//
// A job is a function run on the worker that returns a continuation to run
// on the UI thread (where it may touch widgets and the ScanSession). It gets
// a progress callback in the pipeline's form: call it with the fraction done
// (0..1); it returns false once Cancel was pressed, and the pipeline then
// throws medseg::Cancelled, which ends the job as cancelled.
#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <atomic>
#include <functional>
#include <memory>

namespace medseg::gui {

class JobRunner : public QObject {
  Q_OBJECT

 public:
  using Progress = std::function<bool(double fraction)>;
  using Continuation = std::function<void()>;
  using Work = std::function<Continuation(const Progress& progress)>;

  explicit JobRunner(QObject* parent = nullptr);
  ~JobRunner() override;

  /// Starts `work` on a worker thread; false (nothing started) when a job is
  /// already running.
  bool start(const QString& title, Work work);
  bool busy() const { return busy_; }
  const QString& title() const { return title_; }
  /// Asks the running job to stop: its next progress call returns false.
  void cancel();
  /// Blocks until the running job (if any) ended and its result was handed
  /// over; used on shutdown.
  void wait();

 Q_SIGNALS:
  void started(const QString& title);
  /// Fraction done 0..1 (queued from the worker).
  void progressed(double fraction);
  /// After the continuation ran (ok), or with the error's one-line message
  /// (empty when cancelled).
  void finished(bool ok, bool cancelled, const QString& error);

 private:
  struct Result {
    Continuation continuation;
    bool cancelled = false;
    QString error;
  };
  void on_finished();

  QFutureWatcher<Result> watcher_;
  std::shared_ptr<std::atomic<bool>> cancel_requested_;
  bool busy_ = false;
  QString title_;
};

}  // namespace medseg::gui
