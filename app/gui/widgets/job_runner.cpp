#include "app/gui/widgets/job_runner.h"

#include <QMetaObject>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>

#include "core/error.h"

namespace medseg::gui {

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
  connect(&watcher_, &QFutureWatcher<Result>::finished, this, &JobRunner::on_finished);
}

JobRunner::~JobRunner() {
  cancel();
  watcher_.waitForFinished();
}

bool JobRunner::start(const QString& title, Work work) {
  if (busy_) return false;
  busy_ = true;
  title_ = title;
  cancel_requested_ = std::make_shared<std::atomic<bool>>(false);
  auto flag = cancel_requested_;
  QPointer<JobRunner> self(this);
  Progress progress = [flag, self](double fraction) {
    if (self) QMetaObject::invokeMethod(self, [self, fraction] { if (self) Q_EMIT self->progressed(fraction); },
                                        Qt::QueuedConnection);
    return !flag->load();
  };
  Q_EMIT started(title);
  watcher_.setFuture(QtConcurrent::run([work = std::move(work), progress, flag]() -> Result {
    Result r;
    try {
      r.continuation = work(progress);
      if (flag->load()) r.cancelled = true;  // cancelled after the last progress call
    } catch (const Cancelled&) {
      r.cancelled = true;
    } catch (const std::exception& e) {
      r.error = QString::fromStdString(e.what());
      if (r.error.isEmpty()) r.error = QStringLiteral("unknown error");
    } catch (...) {
      r.error = QStringLiteral("unknown error");
    }
    return r;
  }));
  return true;
}

void JobRunner::cancel() {
  if (busy_ && cancel_requested_) cancel_requested_->store(true);
}

void JobRunner::wait() {
  if (!busy_) return;
  watcher_.waitForFinished();
}

void JobRunner::on_finished() {
  Result r = watcher_.result();
  busy_ = false;  // the continuation may start the next job
  if (r.cancelled) {
    Q_EMIT finished(false, true, QString());
    return;
  }
  if (!r.error.isEmpty()) {
    Q_EMIT finished(false, false, r.error);
    return;
  }
  QString error;
  try {
    if (r.continuation) r.continuation();
  } catch (const std::exception& e) {
    error = QString::fromStdString(e.what());
  }
  Q_EMIT finished(error.isEmpty(), false, error);
}

}  // namespace medseg::gui
