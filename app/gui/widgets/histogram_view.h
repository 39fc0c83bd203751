#pragma once
// The scan's intensity histogram (log counts, 0.1th-99.9th percentile range)
// with the current window drawn over it as the grey ramp it applies. A left
// drag moves the window's level to the intensity under the mouse; the width
// stays (Ctrl + left drag in a slice view changes both).
#include <QWidget>

#include <vector>

namespace medseg::gui {

class ScanSession;

class HistogramView : public QWidget {
  Q_OBJECT

 public:
  explicit HistogramView(QWidget* parent = nullptr);
  /// Recomputes the histogram for `session` (nullptr: empty).
  void set_session(ScanSession* session);
  /// Intensity range shown, scan units.
  double minimum() const { return min_; }
  double maximum() const { return max_; }
  /// Widget x of an intensity and back.
  double x_of(double intensity) const;
  double intensity_at(double x) const;

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;

 private:
  void set_level_at(double x);

  ScanSession* session_ = nullptr;
  std::vector<double> log_counts_;
  double min_ = 0.0;
  double max_ = 1.0;
};

}  // namespace medseg::gui
