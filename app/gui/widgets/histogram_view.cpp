#include "app/gui/widgets/histogram_view.h"

#include <ATen/ATen.h>

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

#include "app/gui/logic/scan_session.h"

namespace medseg::gui {
namespace {
constexpr int kBins = 128;
constexpr std::int64_t kMaxSamples = std::int64_t{1} << 18;  // plenty for 128 bins on screen
constexpr int kMargin = 4;
}  // namespace

HistogramView::HistogramView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("histogram"));
  setMinimumHeight(90);
  setToolTip(tr("Intensity histogram (log counts) and the window; drag to move the level"));
}

void HistogramView::set_session(ScanSession* session) {
  session_ = session;
  log_counts_.clear();
  if (session_) {
    // An even stride through memory, as auto_window samples: at most ~256 K voxels.
    const at::Tensor flat = session_->scan().data.reshape({-1});
    const std::int64_t stride = std::max<std::int64_t>(1, flat.numel() / kMaxSamples);
    at::Tensor sample = flat.slice(0, 0, flat.numel(), stride);
    sample = sample.masked_select(at::isfinite(sample));
    if (sample.numel() > 0) {
      const at::Tensor q = at::quantile(sample.to(at::kDouble), at::tensor({0.001, 0.999}, at::kDouble));
      min_ = q[0].item<double>();
      max_ = q[1].item<double>();
      if (!(max_ > min_)) max_ = min_ + 1.0;
      const at::Tensor counts = at::histc(sample, kBins, min_, max_);
      const auto* c = counts.data_ptr<float>();
      for (int b = 0; b < kBins; ++b) log_counts_.push_back(std::log1p(static_cast<double>(c[b])));
    }
  }
  update();
}

double HistogramView::x_of(double intensity) const {
  return kMargin + (intensity - min_) / (max_ - min_) * (width() - 2 * kMargin);
}

double HistogramView::intensity_at(double x) const {
  return min_ + (x - kMargin) / std::max(1, width() - 2 * kMargin) * (max_ - min_);
}

void HistogramView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), QColor(30, 30, 30));
  if (!session_ || log_counts_.empty()) return;
  const double top = *std::max_element(log_counts_.begin(), log_counts_.end());
  const double h = height() - 2 * kMargin - 12;
  const double bin_w = static_cast<double>(width() - 2 * kMargin) / kBins;
  p.setPen(Qt::NoPen);
  p.setBrush(QColor(150, 150, 150));
  for (int b = 0; b < kBins; ++b) {
    const double bar = top > 0 ? log_counts_[static_cast<std::size_t>(b)] / top * h : 0.0;
    p.drawRect(QRectF(kMargin + b * bin_w, kMargin + h - bar, bin_w, bar));
  }
  // The window: black below lower, the ramp, white above upper.
  const WindowLevel& w = session_->window();
  const double xl = x_of(w.lower()), xu = x_of(w.upper());
  p.setRenderHint(QPainter::Antialiasing);
  p.setBrush(QColor(255, 170, 0, 40));
  p.drawRect(QRectF(QPointF(std::max<double>(xl, 0), kMargin), QPointF(std::min<double>(xu, width()), kMargin + h)));
  p.setPen(QPen(QColor(255, 170, 0), 1.5));
  p.drawLine(QPointF(0, kMargin + h), QPointF(xl, kMargin + h));
  p.drawLine(QPointF(xl, kMargin + h), QPointF(xu, kMargin));
  p.drawLine(QPointF(xu, kMargin), QPointF(width(), kMargin));
  p.setPen(QColor(200, 200, 200));
  QFont f = font();
  f.setPointSizeF(std::max(7.0, f.pointSizeF() * 0.85));
  p.setFont(f);
  const QRect text(kMargin, height() - 14, width() - 2 * kMargin, 14);
  p.drawText(text, Qt::AlignLeft, QString::number(min_, 'g', 4));
  p.drawText(text, Qt::AlignRight, QString::number(max_, 'g', 4));
  p.drawText(text, Qt::AlignHCenter, tr("W %1  L %2").arg(w.width(), 0, 'g', 4).arg(w.level(), 0, 'g', 4));
}

void HistogramView::set_level_at(double x) {
  if (!session_) return;
  session_->set_window(WindowLevel(session_->window().width(), intensity_at(x)));
}

void HistogramView::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) set_level_at(event->position().x());
}

void HistogramView::mouseMoveEvent(QMouseEvent* event) {
  if (event->buttons() & Qt::LeftButton) set_level_at(event->position().x());
}

}  // namespace medseg::gui
