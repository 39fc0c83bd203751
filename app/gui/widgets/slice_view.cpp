#include "app/gui/widgets/slice_view.h"

#include <QElapsedTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

#include "app/gui/logic/scan_session.h"

namespace medseg::gui {
namespace {
const QColor kCrosshairColor(40, 150, 255);
const QColor kLetterColor(255, 170, 0);
const QColor kInfoColor(170, 170, 170);
constexpr double kCrosshairGap = 6.0;  ///< px left free around the crosshair centre
}  // namespace

SliceView::SliceView(ViewKind kind, QWidget* parent) : QWidget(parent), kind_(kind) {
  setMouseTracking(true);
  setFocusPolicy(Qt::StrongFocus);
  setMinimumSize(120, 120);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setObjectName(QString::fromLatin1(view_name(kind)));
}

void SliceView::set_session(ScanSession* session, const LabelOverlay* overlay) {
  session_ = session;
  overlay_ = overlay;
  reset_view();
}

void SliceView::set_brush(const std::optional<BrushOptions>& brush) {
  brush_ = brush;
  update();
}

void SliceView::set_outline(bool outline) {
  outline_ = outline;
  update();
}

void SliceView::set_crosshair_visible(bool visible) {
  crosshair_visible_ = visible;
  update();
}

std::array<QString, 4> SliceView::edge_letters() const {
  if (!session_) return {};
  const ViewMapping& m = session_->geometry().view(kind_);
  return {QString(QChar(m.left)), QString(QChar(m.right)), QString(QChar(m.top)), QString(QChar(m.bottom))};
}

double SliceView::scale() const {
  if (!session_) return 1.0;
  const ViewMapping& m = session_->geometry().view(kind_);
  const double w_mm = static_cast<double>(m.width) * m.pixel_width_mm;
  const double h_mm = static_cast<double>(m.height) * m.pixel_height_mm;
  const double fit = std::min(static_cast<double>(width()) / w_mm, static_cast<double>(height()) / h_mm);
  return fit * zoom_;
}

QRectF SliceView::image_rect() const {
  if (!session_) return {};
  const ViewMapping& m = session_->geometry().view(kind_);
  const double s = scale();
  const double w = static_cast<double>(m.width) * m.pixel_width_mm * s;
  const double h = static_cast<double>(m.height) * m.pixel_height_mm * s;
  const QPointF centre = QPointF(width() / 2.0, height() / 2.0) + pan_;
  return {centre.x() - w / 2.0, centre.y() - h / 2.0, w, h};
}

QPointF SliceView::pixel_to_widget(double u, double v) const {
  if (!session_) return {};
  const ViewMapping& m = session_->geometry().view(kind_);
  const QRectF r = image_rect();
  return {r.left() + (u + 0.5) * r.width() / static_cast<double>(m.width),
          r.top() + (v + 0.5) * r.height() / static_cast<double>(m.height)};
}

std::array<double, 2> SliceView::widget_to_pixel(const QPointF& p) const {
  if (!session_) return {0, 0};
  const ViewMapping& m = session_->geometry().view(kind_);
  const QRectF r = image_rect();
  return {(p.x() - r.left()) * static_cast<double>(m.width) / r.width() - 0.5,
          (p.y() - r.top()) * static_cast<double>(m.height) / r.height() - 0.5};
}

void SliceView::reset_view() {
  zoom_ = 1.0;
  pan_ = {0, 0};
  update();
}

void SliceView::zoom_about(double zoom, const QPointF& anchor) {
  // The image centre moves so that the scan point under `anchor` stays there
  // (as ITK-SNAP and 3D Slicer zoom): (anchor - centre) scales with the zoom.
  const QPointF widget_centre(width() / 2.0, height() / 2.0);
  const QPointF centre = widget_centre + pan_;
  const QPointF new_centre = anchor - (anchor - centre) * (zoom / zoom_);
  pan_ = new_centre - widget_centre;
  zoom_ = zoom;
}

void SliceView::render_image() {
  const SliceGeometry& g = session_->geometry();
  const ViewMapping& m = g.view(kind_);
  if (image_.width() != m.width || image_.height() != m.height) {
    image_ = QImage(static_cast<int>(m.width), static_cast<int>(m.height), QImage::Format_RGB32);
  }
  // Format_RGB32 rows are width * 4 bytes (always 4-aligned): one buffer.
  auto* pixels = reinterpret_cast<std::uint32_t*>(image_.bits());
  const std::int64_t slice = session_->slice(kind_);
  const float* scan = session_->scan().data.data_ptr<float>();
  const std::int16_t* labels = session_->editor().label_data();
  if (outline_) {
    static const LabelOverlay kNone;
    renderer_.render(g, kind_, slice, scan, labels, session_->window(), kNone, pixels);
    draw_outline(pixels);
  } else {
    renderer_.render(g, kind_, slice, scan, labels, session_->window(), *overlay_, pixels);
  }
}

void SliceView::draw_outline(std::uint32_t* pixels) {
  const SliceGeometry& g = session_->geometry();
  const ViewMapping& m = g.view(kind_);
  label_slice_.resize(static_cast<std::size_t>(m.width * m.height));
  g.extract_slice(kind_, session_->slice(kind_), session_->editor().label_data(), label_slice_.data());
  const std::int64_t w = m.width, h = m.height;
  for (std::int64_t v = 0; v < h; ++v) {
    for (std::int64_t u = 0; u < w; ++u) {
      const std::int16_t l = label_slice_[static_cast<std::size_t>(v * w + u)];
      if (l == 0 || overlay_->alpha(l) == 0) continue;
      auto at = [&](std::int64_t uu, std::int64_t vv) {
        if (uu < 0 || vv < 0 || uu >= w || vv >= h) return std::int16_t{0};
        return label_slice_[static_cast<std::size_t>(vv * w + uu)];
      };
      if (at(u - 1, v) != l || at(u + 1, v) != l || at(u, v - 1) != l || at(u, v + 1) != l) {
        pixels[v * w + u] = overlay_->color(l);
      }
    }
  }
}

void SliceView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), Qt::black);
  if (!session_) {
    p.setPen(kInfoColor);
    p.drawText(rect(), Qt::AlignCenter, tr("File > Open or drop a scan here"));
    return;
  }
  QElapsedTimer timer;
  timer.start();
  render_image();
  last_render_ms_ = static_cast<double>(timer.nsecsElapsed()) / 1e6;
  const QRectF r = image_rect();
  p.drawImage(r, image_);  // nearest neighbour: no SmoothPixmapTransform hint

  const auto& c = session_->crosshair();
  const auto uv = session_->geometry().voxel_to_screen(
      kind_, {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])});
  const QPointF x = pixel_to_widget(uv[0], uv[1]);
  if (crosshair_visible_) {
    p.setPen(QPen(kCrosshairColor, 1));
    p.drawLine(QPointF(r.left(), x.y()), QPointF(x.x() - kCrosshairGap, x.y()));
    p.drawLine(QPointF(x.x() + kCrosshairGap, x.y()), QPointF(r.right(), x.y()));
    p.drawLine(QPointF(x.x(), r.top()), QPointF(x.x(), x.y() - kCrosshairGap));
    p.drawLine(QPointF(x.x(), x.y() + kCrosshairGap), QPointF(x.x(), r.bottom()));
  }

  if (brush_ && mouse_) {
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(QPen(QColor(255, 255, 0), 1));
    const double rad = brush_->radius_mm * scale();
    p.drawEllipse(*mouse_, rad, rad);
    p.setRenderHint(QPainter::Antialiasing, false);
  }

  QFont f = font();
  f.setBold(true);
  f.setPointSizeF(std::max(9.0, f.pointSizeF() * 1.2));
  p.setFont(f);
  // Text with a black shadow, readable over bright anatomy too.
  auto shadowed = [&p](const QRect& box, int flags, const QString& text, const QColor& colour) {
    p.setPen(Qt::black);
    p.drawText(box.translated(1, 1), flags, text);
    p.setPen(colour);
    p.drawText(box, flags, text);
  };
  const auto letters = edge_letters();
  const int pad = 4;
  const QRect w = rect().adjusted(pad, pad, -pad, -pad);
  shadowed(w, Qt::AlignLeft | Qt::AlignVCenter, letters[0], kLetterColor);
  shadowed(w, Qt::AlignRight | Qt::AlignVCenter, letters[1], kLetterColor);
  shadowed(w, Qt::AlignTop | Qt::AlignHCenter, letters[2], kLetterColor);
  shadowed(w, Qt::AlignBottom | Qt::AlignHCenter, letters[3], kLetterColor);

  p.setFont(font());
  const ViewMapping& m = session_->geometry().view(kind_);
  shadowed(w, Qt::AlignLeft | Qt::AlignBottom,
           QStringLiteral("%1  %2/%3")
               .arg(QString::fromLatin1(view_name(kind_)))
               .arg(session_->slice(kind_) + 1)
               .arg(m.slice_count),
           kInfoColor);
  last_paint_ms_ = static_cast<double>(timer.nsecsElapsed()) / 1e6;
}

void SliceView::mousePressEvent(QMouseEvent* event) {
  if (!session_ || drag_ != Drag::kNone) return;  // one drag at a time (a second button is ignored)
  setFocus(Qt::MouseFocusReason);
  drag_start_ = event->position().toPoint();
  const auto px = widget_to_pixel(event->position());
  if (event->button() == Qt::LeftButton && (event->modifiers() & Qt::ControlModifier)) {
    drag_ = Drag::kWindow;
    drag_width_ = session_->window().width();
    drag_level_ = session_->window().level();
  } else if (event->button() == Qt::LeftButton && brush_) {
    try {
      session_->begin_stroke(kind_, *brush_);  // refuses e.g. an intensity range with min > max
    } catch (const std::exception& e) {
      Q_EMIT error_occurred(QString::fromStdString(e.what()));
      return;
    }
    drag_ = Drag::kPaint;
    session_->paint_at(px[0], px[1]);
  } else if (event->button() == Qt::LeftButton) {
    drag_ = Drag::kCrosshair;
    session_->set_crosshair_from_screen(kind_, px[0], px[1]);
  } else if (event->button() == Qt::RightButton) {
    drag_ = Drag::kZoom;
    drag_zoom_ = zoom_;
  } else if (event->button() == Qt::MiddleButton) {
    drag_ = Drag::kPan;
    drag_pan_ = pan_;
  }
}

void SliceView::mouseMoveEvent(QMouseEvent* event) {
  if (!session_) return;
  const QPoint pos = event->position().toPoint();
  mouse_ = event->position();
  const auto px = widget_to_pixel(event->position());
  const QPoint d = pos - drag_start_;
  switch (drag_) {
    case Drag::kCrosshair: session_->set_crosshair_from_screen(kind_, px[0], px[1]); break;
    case Drag::kPaint: session_->paint_at(px[0], px[1]); break;
    case Drag::kWindow: {
      // Right widens the window, up raises the level; both in proportion to
      // the window at the drag's start (fine control at any scale).
      const double width = std::max(1e-3, drag_width_ * std::exp(d.x() * 0.005));
      const double level = drag_level_ - d.y() * drag_width_ * 0.004;
      session_->set_window(WindowLevel(width, level));
      break;
    }
    case Drag::kZoom: zoom_about(std::clamp(drag_zoom_ * std::exp(-d.y() * 0.01), 0.1, 50.0), drag_start_); break;
    case Drag::kPan: pan_ = drag_pan_ + QPointF(d); break;
    case Drag::kNone:
      // 3D Slicer's habit: moving with Shift held moves the crosshair.
      if (event->modifiers() & Qt::ShiftModifier) session_->set_crosshair_from_screen(kind_, px[0], px[1]);
      break;
  }
  const auto voxel = session_->geometry().screen_to_voxel(kind_, px[0], px[1],
                                                          static_cast<double>(session_->slice(kind_)));
  const std::array<std::int64_t, 3> rounded{std::llround(voxel[0]), std::llround(voxel[1]), std::llround(voxel[2])};
  Q_EMIT hovered(voxel[0], voxel[1], voxel[2], session_->geometry().contains(rounded));
  update();
}

void SliceView::mouseReleaseEvent(QMouseEvent* event) {
  if (!session_) return;
  const bool ends = (event->button() == Qt::LeftButton &&
                     (drag_ == Drag::kPaint || drag_ == Drag::kCrosshair || drag_ == Drag::kWindow)) ||
                    (event->button() == Qt::RightButton && drag_ == Drag::kZoom) ||
                    (event->button() == Qt::MiddleButton && drag_ == Drag::kPan);
  if (!ends) return;
  if (drag_ == Drag::kPaint) session_->end_stroke();
  drag_ = Drag::kNone;
  update();
}

void SliceView::mouseDoubleClickEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton && !brush_) Q_EMIT maximize_toggled(kind_);
}

void SliceView::wheelEvent(QWheelEvent* event) {
  if (!session_) return;
  const int steps = event->angleDelta().y() / 120;
  if (steps != 0 && (event->modifiers() & Qt::ControlModifier)) {
    zoom_about(std::clamp(zoom_ * std::pow(1.25, steps), 0.1, 50.0), event->position());  // 3D Slicer's Ctrl+wheel
    update();
  } else if (steps != 0) {
    session_->step_slice(kind_, steps);
  }
  event->accept();
}

void SliceView::keyPressEvent(QKeyEvent* event) {
  if (!session_) return QWidget::keyPressEvent(event);
  switch (event->key()) {
    case Qt::Key_PageUp:
    case Qt::Key_Up: session_->step_slice(kind_, 1); break;
    case Qt::Key_PageDown:
    case Qt::Key_Down: session_->step_slice(kind_, -1); break;
    case Qt::Key_R:
      if (event->modifiers() == Qt::NoModifier) {
        Q_EMIT reset_requested();
        break;
      }
      [[fallthrough]];
    default: QWidget::keyPressEvent(event);
  }
}

void SliceView::leaveEvent(QEvent*) {
  mouse_.reset();
  Q_EMIT hovered(0, 0, 0, false);
  update();
}

}  // namespace medseg::gui
