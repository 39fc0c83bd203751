#pragma once
// Manual correction of a label map: brush and eraser (radius in mm, on one
// slice), paint limited to an intensity range, protection of other labels,
// removal of small islands, replacement by an AI result, and undo/redo of
// each of them as one sparse step (app/gui/logic/undo_history.h).
//
// Label maps are int16 (D, H, W), as pipeline::read_label_map returns them
// and pipeline's segmenter writes them; 0 is background.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "app/gui/logic/label_change.h"
#include "app/gui/logic/undo_history.h"
#include "pipeline/volume.h"

namespace medseg::gui {

enum class BrushMode {
  kPaint,  ///< set voxels to BrushOptions::label
  kErase,  ///< set voxels to 0 (background)
};

/// What one stroke does; fixed from begin_stroke() to end_stroke().
struct BrushOptions {
  BrushMode mode = BrushMode::kPaint;
  /// Radius of the brush disc in mm, measured in the slice plane with the
  /// voxel spacing: on anisotropic voxels the disc covers an ellipse of
  /// voxels. A voxel is covered when its centre lies within the disc
  /// (boundary included). A radius below half a voxel covers the voxel under
  /// the centre only.
  double radius_mm = 2.0;
  /// Value painted (kPaint); with protect_other_labels also the only value
  /// the eraser removes.
  std::int16_t label = 1;
  /// Paint: overwrite only background (0) and `label`. Erase: remove only
  /// `label`. Off: paint over / erase any label.
  bool protect_other_labels = false;
  /// When set, only voxels whose scan intensity lies in [min, max]
  /// (inclusive, scan units, e.g. HU) are painted or erased (3D Slicer's
  /// "editable intensity range").
  std::optional<std::array<double, 2>> intensity_range;
};

/// Neighbourhood that joins voxels into one island.
enum class Connectivity {
  kFaces6 = 6,   ///< voxels sharing a face
  kFull26 = 26,  ///< voxels sharing a face, an edge or a corner
};

class LabelEditor {
 public:
  /// `geometry`: the grid (size i, j, k; spacing mm). `labels`: int16 (or
  /// any integer type holding 0..32767) (D, H, W) = (size[2], size[1],
  /// size[0]); undefined means all background. The editor keeps its own
  /// contiguous int16 copy. `intensities`: the scan, float32 (D, H, W),
  /// shared (not copied), read by intensity-limited painting; may be
  /// undefined, then intensity limits are refused. Throws medseg::IoError
  /// when a shape does not match the grid.
  LabelEditor(const pipeline::Geometry& geometry, const at::Tensor& labels, at::Tensor intensities,
              std::size_t max_undo_bytes = std::size_t{256} << 20);
  // A copy would share the label storage (at::Tensor is a handle) with the
  // original while keeping a separate undo history: refuse it.
  LabelEditor(const LabelEditor&) = delete;
  LabelEditor& operator=(const LabelEditor&) = delete;
  LabelEditor(LabelEditor&&) = default;
  LabelEditor& operator=(LabelEditor&&) = default;

  /// The label map, int16 (D, H, W), contiguous. Read-only for callers:
  /// every change goes through the editor so that it can be undone.
  const at::Tensor& labels() const { return labels_; }
  const std::int16_t* label_data() const { return data_; }
  const pipeline::Geometry& geometry() const { return geometry_; }

  /// Starts a stroke on the slice plane perpendicular to voxel axis
  /// `normal_axis` (0 = i, 1 = j, 2 = k; a view's ViewMapping::slice_axis).
  /// Throws std::logic_error when a stroke is already active and
  /// medseg::ConfigError for a radius <= 0, a label outside 1..32767 when
  /// painting, or an intensity range without a scan or with min > max.
  void begin_stroke(const BrushOptions& options, int normal_axis);
  /// Paints (or erases) the disc around `centre`, a continuous voxel index
  /// (i, j, k); the slice is the nearest one along the stroke's normal axis.
  /// Successive calls in one stroke also cover the segment between their
  /// centres (a fast mouse drag leaves no gaps). Voxels outside the grid
  /// are skipped. Returns how many voxels changed in this call.
  std::int64_t paint_at(const std::array<double, 3>& centre);
  /// Ends the stroke; its changes become one undo step (none when nothing
  /// changed). Returns the step, or nullptr.
  const LabelChange* end_stroke();
  bool stroke_active() const { return stroke_active_; }

  /// Replaces the whole label map (e.g. an AI segmentation), int16-valued
  /// (D, H, W) on this grid, as ONE undo step holding only the changed
  /// voxels. Throws medseg::IoError on a shape mismatch, std::logic_error
  /// during a stroke. Returns the step, or nullptr when nothing changed.
  const LabelChange* replace_all(const at::Tensor& new_labels);

  /// Sets to background every 3D connected component (of voxels with the
  /// same label value) whose volume is below `min_volume_ml` (mL, from the
  /// voxel count x spacing product). `label` restricts this to one value
  /// (0 = every nonzero label). One undo step; returns it, or nullptr when
  /// nothing was removed. Memory: a 1-bit visited mask of the grid, plus
  /// the current island's voxel list only while it is still small enough
  /// to be removed, plus the flood-fill stack.
  const LabelChange* remove_islands(double min_volume_ml, Connectivity connectivity, std::int16_t label = 0);

  bool can_undo() const { return !stroke_active_ && history_.can_undo(); }
  bool can_redo() const { return !stroke_active_ && history_.can_redo(); }
  /// Undoes the last step; returns it (the voxels it restored), or nullptr.
  /// Throws std::logic_error during a stroke.
  const LabelChange* undo();
  /// Re-applies the step undone last; returns it, or nullptr.
  const LabelChange* redo();
  const UndoHistory& history() const { return history_; }

 private:
  void paint_disc(const std::array<double, 3>& centre);
  void check_not_in_stroke(const char* operation) const;

  pipeline::Geometry geometry_;
  at::Tensor labels_;
  std::int16_t* data_ = nullptr;
  at::Tensor intensities_;
  UndoHistory history_;

  // The stroke in progress.
  bool stroke_active_ = false;
  BrushOptions brush_;
  int normal_axis_ = 2;
  std::optional<std::array<double, 3>> last_centre_;
  std::vector<VoxelEdit> stroke_edits_;
  std::int64_t changed_in_call_ = 0;
};

}  // namespace medseg::gui
