#pragma once
// One slice view (axial, coronal or sagittal), drawn with QPainter: the
// pixels SliceRenderer composes (scan through window/level, label colours on
// top) in a QImage, scaled to keep the voxels' physical aspect ratio, the
// linked crosshair, and the patient-orientation letters at the four edges.
// Mouse and keys are forwarded to the ScanSession (crosshair, slice,
// window/level, brush strokes); zoom and pan are this view's own state.
//
// Mouse and keys (as ITK-SNAP / 3D Slicer users expect):
//   left click/drag, Shift+move  crosshair (every view)  wheel, PgUp/PgDn, Up/Down  slice
//   right drag, Ctrl+wheel  zoom (up = in)               middle drag                pan
//   Ctrl + left drag     window (horizontal) / level (vertical)
//   left drag with the brush or eraser selected: paint; r: reset zoom and pan
//   double click         maximise this view / restore the layout
#include <QImage>
#include <QPoint>
#include <QWidget>

#include <array>
#include <optional>

#include "app/gui/logic/label_editor.h"
#include "app/gui/logic/slice_geometry.h"
#include "app/gui/logic/slice_renderer.h"

namespace medseg::gui {

class ScanSession;

class SliceView : public QWidget {
  Q_OBJECT

 public:
  explicit SliceView(ViewKind kind, QWidget* parent = nullptr);

  ViewKind kind() const { return kind_; }
  /// Shows `session` (nullptr: nothing) with the label colours of
  /// `overlay`; both must outlive the view or be replaced first.
  void set_session(ScanSession* session, const LabelOverlay* overlay);
  /// With a brush, left-drag paints (or erases); nullopt: left sets the
  /// crosshair.
  void set_brush(const std::optional<BrushOptions>& brush);
  /// Draw label outlines (1 pixel of the slice, opaque) instead of filled
  /// areas.
  void set_outline(bool outline);
  void set_crosshair_visible(bool visible);

  /// The letters drawn at the middle of the left, right, top and bottom edge
  /// (the patient direction on that side, e.g. "R", "L", "A", "P" in a
  /// radiological axial view); empty strings without a scan.
  std::array<QString, 4> edge_letters() const;

  /// Widget position of screen pixel (u, v) (SliceGeometry's pixels: voxel
  /// centres at integers) and back.
  QPointF pixel_to_widget(double u, double v) const;
  std::array<double, 2> widget_to_pixel(const QPointF& p) const;
  /// Where the slice image lands in the widget.
  QRectF image_rect() const;

  /// Zoom factor relative to "fit the widget" (1).
  double zoom() const { return zoom_; }
  QPointF pan() const { return pan_; }
  void reset_view();

  /// Milliseconds the last paintEvent spent composing the slice (render +
  /// QImage), for the status bar / docs.
  double last_render_ms() const { return last_render_ms_; }
  /// Milliseconds the last paintEvent took in all (render, scaled drawImage,
  /// crosshair, letters).
  double last_paint_ms() const { return last_paint_ms_; }

 Q_SIGNALS:
  /// The mouse is over voxel (i, j, k) (continuous index) of the scan, or
  /// left the image (inside = false).
  void hovered(double i, double j, double k, bool inside);
  void maximize_toggled(medseg::gui::ViewKind kind);
  void reset_requested();
  /// An input the logic layer refused (one line), for the window's error dialog.
  void error_occurred(const QString& message);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  enum class Drag { kNone, kCrosshair, kPaint, kWindow, kZoom, kPan };
  /// Pixels per mm at the current zoom.
  double scale() const;
  /// Sets the zoom keeping the scan point under widget position `anchor` in place.
  void zoom_about(double zoom, const QPointF& anchor);
  void render_image();
  void draw_outline(std::uint32_t* pixels);

  ViewKind kind_;
  ScanSession* session_ = nullptr;
  const LabelOverlay* overlay_ = nullptr;
  SliceRenderer renderer_;
  QImage image_;
  std::vector<std::int16_t> label_slice_;
  std::optional<BrushOptions> brush_;
  bool outline_ = false;
  bool crosshair_visible_ = true;
  double zoom_ = 1.0;
  QPointF pan_{0, 0};
  Drag drag_ = Drag::kNone;
  QPoint drag_start_;
  double drag_zoom_ = 1.0;
  QPointF drag_pan_;
  double drag_width_ = 1.0;
  double drag_level_ = 0.0;
  std::optional<QPointF> mouse_;
  double last_render_ms_ = 0.0;
  double last_paint_ms_ = 0.0;
};

}  // namespace medseg::gui
