#pragma once
// Everything about one open scan that the GUI shows and edits: the scan, its
// label map (through the editor, so that every change can be undone), the
// linked crosshair, window/level, the display convention, the label table
// and the statistics. Widgets read it and call its mutators; it tells them
// what changed through Notifier callbacks. No Qt, no threads: the Qt layer
// calls it on the UI thread (long jobs run elsewhere and hand their result
// to replace_labels()).
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/gui/logic/label_description.h"
#include "app/gui/logic/label_editor.h"
#include "app/gui/logic/label_statistics.h"
#include "app/gui/logic/notifier.h"
#include "app/gui/logic/slice_geometry.h"
#include "app/gui/logic/slice_renderer.h"
#include "app/gui/logic/window_level.h"
#include "pipeline/volume.h"

namespace medseg::gui {

/// How a scan opens.
struct ScanSessionOptions {
  /// Names and colours (e.g. labels_from_bundle()); label values present in
  /// the label map but missing here get default_label_description().
  std::vector<LabelDescription> label_table;
  /// Overrides the window stored with the scan (DICOM Window Center/Width in
  /// its metadata) as the opening window and as stored_window().
  std::optional<WindowLevel> stored_window;
  DisplayConvention convention = DisplayConvention::kRadiological;
  /// Label overlay opacity, 0..1.
  double overlay_opacity = 0.5;
};

class ScanSession {
 public:
  /// Opens `scan` (float32 (D, H, W), geometry in LPS). `labels`: an int16
  /// (D, H, W) label map on the same grid, or undefined for an empty one.
  /// The crosshair starts at the centre voxel (size / 2 along each axis).
  /// The opening window is the stored one if any (options.stored_window,
  /// else the scan's DICOM Window Center/Width); else CT (metadata
  /// modality "CT") opens with the "soft tissue" preset (400 / 40 HU, the
  /// usual overview window) and anything else with auto_window()
  /// (percentiles 0.5-99.5). Throws medseg::IoError when the shapes do not
  /// fit.
  explicit ScanSession(pipeline::Volume scan, const at::Tensor& labels = {}, ScanSessionOptions options = {});
  // Listeners hold on to this object; it stays where it was made.
  ScanSession(const ScanSession&) = delete;
  ScanSession& operator=(const ScanSession&) = delete;

  const pipeline::Volume& scan() const { return scan_; }
  const SliceGeometry& geometry() const { return geometry_; }
  const LabelEditor& editor() const { return editor_; }
  /// The label map, int16 (D, H, W).
  const at::Tensor& labels() const { return editor_.labels(); }

  // --- crosshair (voxel index (i, j, k)) ---------------------------------
  const std::array<std::int64_t, 3>& crosshair() const { return crosshair_; }
  /// Moves the crosshair, clamped into the grid; notifies crosshair_changed
  /// when it moved.
  void set_crosshair(const std::array<std::int64_t, 3>& voxel);
  /// Moves the crosshair to screen pixel (u, v) of view `kind` (pixels as in
  /// SliceGeometry: u right, v down) on that view's current slice; rounds to
  /// the nearest voxel.
  void set_crosshair_from_screen(ViewKind kind, double u, double v);
  /// Scrolls view `kind` by `delta` slices (clamped), i.e. moves the
  /// crosshair along the view's slice axis.
  void step_slice(ViewKind kind, std::int64_t delta);
  /// The slice view `kind` shows (voxel index along its slice axis).
  std::int64_t slice(ViewKind kind) const { return geometry_.slice_of(kind, crosshair_); }
  /// Patient position (mm, LPS) of the crosshair voxel's centre.
  std::array<double, 3> crosshair_mm() const;
  /// Scan intensity (scan units, e.g. HU) and label value at the crosshair.
  float intensity_at_crosshair() const;
  std::int16_t label_at_crosshair() const;

  // --- display -------------------------------------------------------------
  void set_convention(DisplayConvention convention);  ///< notifies display_changed
  const WindowLevel& window() const { return window_; }
  /// Sets the window (e.g. from a mouse drag or DICOM's stored window);
  /// notifies window_changed when it changed.
  void set_window(const WindowLevel& window);
  /// ct_window_preset(name); throws medseg::ConfigError for an unknown name.
  void apply_preset(const std::string& name);
  void apply_auto_window();
  /// The window stored with the scan, if any (see the constructor).
  const std::optional<WindowLevel>& stored_window() const { return stored_window_; }
  /// Sets stored_window(); throws medseg::ConfigError when there is none.
  void apply_stored_window();

  // --- label table ---------------------------------------------------------
  const std::vector<LabelDescription>& label_table() const { return label_table_; }
  /// The description of `value` (a default one when the table has none).
  LabelDescription describe(std::int16_t value) const;
  /// Replaces (same value) or adds a description; notifies
  /// label_table_changed.
  void set_label_description(const LabelDescription& description);
  double overlay_opacity() const { return overlay_opacity_; }
  /// Opacity 0..1 (clamped) of the label overlay; notifies
  /// label_table_changed.
  void set_overlay_opacity(double opacity);
  /// Colour tables for SliceRenderer from the label table and opacity
  /// (builds 65536-entry tables: cache it until label_table_changed).
  LabelOverlay overlay() const { return LabelOverlay(label_table_, overlay_opacity_); }

  // --- editing ---------------------------------------------------------------
  /// Starts a brush/eraser stroke in view `kind` (on its current slice).
  void begin_stroke(ViewKind kind, const BrushOptions& options);
  /// Paints at screen pixel (u, v) of the stroke's view, on the slice the
  /// stroke began on. Notifies labels_changed when voxels changed.
  void paint_at(double u, double v);
  /// Ends the stroke: one undo step; statistics updated.
  void end_stroke();
  /// Replaces the label map (an AI result) as one undo step.
  void replace_labels(const at::Tensor& labels);
  /// LabelEditor::remove_islands; one undo step. Returns voxels removed.
  std::int64_t remove_islands(double min_volume_ml, Connectivity connectivity, std::int16_t label = 0);
  bool can_undo() const { return editor_.can_undo(); }
  bool can_redo() const { return editor_.can_redo(); }
  /// Returns false when there was nothing to undo / redo.
  bool undo();
  bool redo();

  // --- statistics ------------------------------------------------------------
  /// Sets (int16 (D, H, W) on the scan's grid) or clears (undefined) the
  /// reference label map for Dice.
  void set_reference(const at::Tensor& reference);
  /// The statistics table, current after every finished edit (during a
  /// stroke it shows the state before the stroke).
  std::vector<LabelStatisticsRow> statistics() const { return statistics_.rows(); }
  /// Writes statistics() with the label names as CSV, atomically.
  void export_statistics_csv(const std::filesystem::path& path) const;

  // --- notifications ---------------------------------------------------------
  Notifier<> crosshair_changed;
  Notifier<> window_changed;
  Notifier<> display_changed;      ///< convention (left/right) switched
  Notifier<> labels_changed;       ///< label voxels changed (redraw overlays)
  Notifier<> statistics_changed;   ///< statistics() has new values
  Notifier<> label_table_changed;  ///< names/colours/visibility, or new values
  Notifier<> history_changed;      ///< can_undo()/can_redo() may differ

 private:
  void after_change(const LabelChange* change, bool undone);
  /// undo()/redo() after the editor moved: notify, update statistics.
  bool history_step(const LabelChange* change, bool undone);
  void add_missing_descriptions();

  pipeline::Volume scan_;
  SliceGeometry geometry_;
  LabelEditor editor_;
  LabelStatistics statistics_;
  std::array<std::int64_t, 3> crosshair_{0, 0, 0};
  WindowLevel window_{1.0, 0.0};
  std::optional<WindowLevel> stored_window_;
  std::vector<LabelDescription> label_table_;
  double overlay_opacity_ = 0.5;
  std::optional<ViewKind> stroke_view_;
  std::int64_t stroke_slice_ = 0;
};

}  // namespace medseg::gui
