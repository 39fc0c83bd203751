#pragma once
// Which voxels a slice view shows and where they land on screen, for a volume
// stored in any order (LPS, RAS, permuted, oblique). The GUI draws what this
// says and never looks at direction cosines itself, so every view shows the
// patient the same way whatever the file's storage order (GUI.md: a z-flipped
// overlay is one of the complaints users have about other viewers).
//
// Conventions used throughout (also in the other files of app/gui/logic):
// - "voxel index" (i, j, k) is ITK's order: i varies fastest in memory, so the
//   data tensor (D, H, W) is indexed [k][j][i];
// - "screen pixel" (u, v): u is the column, growing to the right, v is the
//   row, growing DOWNWARD (image convention); one screen pixel is one voxel,
//   the widget scales by the physical aspect ratio;
// - "patient mm" is ITK's LPS world: +x Left, +y Posterior, +z Superior.
#include <array>
#include <cstdint>
#include <string>

#include "pipeline/volume.h"

namespace medseg::gui {

/// The three display planes, named after the patient plane they show.
enum class ViewKind { kAxial = 0, kCoronal = 1, kSagittal = 2 };

/// Which way patient left-right is shown in the axial and coronal views.
/// Radiological (default, what radiologists read): as if facing the patient,
/// so the patient's left is on the screen's right. Neurological: as if
/// looking from behind, patient's left on screen left. Sagittal views are the
/// same in both (anterior on screen left, as ITK-SNAP and 3D Slicer show it).
enum class DisplayConvention { kRadiological, kNeurological };

/// How one view maps voxels to the screen.
struct ViewMapping {
  /// Voxel axis (0 = i, 1 = j, 2 = k) shown along screen columns (u).
  int x_axis = 0;
  /// Voxel axis shown along screen rows (v, downward).
  int y_axis = 1;
  /// Voxel axis perpendicular to the view; its index is the slice number.
  int slice_axis = 2;
  /// True when u grows while the voxel index along x_axis decreases
  /// (u = size[x_axis] - 1 - index).
  bool x_flipped = false;
  /// True when v grows while the voxel index along y_axis decreases.
  bool y_flipped = false;
  /// Screen size in pixels (= voxels): width = size[x_axis],
  /// height = size[y_axis].
  std::int64_t width = 0;
  std::int64_t height = 0;
  /// Physical size of one screen pixel, mm: spacing[x_axis] and
  /// spacing[y_axis]. Draw a pixel pixel_width_mm / pixel_height_mm times as
  /// wide as high to keep anisotropic voxels in proportion.
  double pixel_width_mm = 1.0;
  double pixel_height_mm = 1.0;
  /// Number of slices (= size[slice_axis]).
  std::int64_t slice_count = 0;
  /// Anatomical letter (L, R, A, P, S, I) shown at the middle of the left,
  /// right, top and bottom edge: the direction the patient extends toward
  /// on that side of the screen. For an oblique volume it names the nearest
  /// anatomical direction.
  char left = '?';
  char right = '?';
  char top = '?';
  char bottom = '?';
};

/// Slice geometry of one volume grid. Cheap to copy; holds no voxel data.
class SliceGeometry {
 public:
  /// `geometry` is the scan's grid (pipeline::Geometry: size in voxels along
  /// i, j, k, spacing mm, origin/direction in LPS). Each voxel axis is paired
  /// with its nearest anatomical axis exactly as pipeline::orientation_code
  /// pairs them (greedy by largest |cosine|, three distinct axes even at 45°),
  /// so an oblique scan is shown on its nearest anatomical planes without
  /// resampling. Throws medseg::IoError when a size is not positive.
  explicit SliceGeometry(const pipeline::Geometry& geometry,
                         DisplayConvention convention = DisplayConvention::kRadiological);

  const pipeline::Geometry& geometry() const { return geometry_; }
  DisplayConvention convention() const { return convention_; }
  /// Recomputes the three mappings for another convention.
  void set_convention(DisplayConvention convention);

  /// Three-letter code of the voxel axes (pipeline::orientation_code), e.g.
  /// "RAS" for a NIfTI with identity affine; for display in the info bar.
  const std::string& orientation_code() const { return code_; }

  const ViewMapping& view(ViewKind kind) const { return views_[static_cast<int>(kind)]; }

  /// Screen pixel (u, v) of a voxel index (i, j, k) in view `kind`; the
  /// slice coordinate is ignored. Continuous: voxel centres map to integer
  /// pixel coordinates (pixel centres), so sub-voxel positions round-trip.
  std::array<double, 2> voxel_to_screen(ViewKind kind, const std::array<double, 3>& voxel) const;

  /// Voxel index (i, j, k) under screen pixel (u, v) of view `kind` on slice
  /// `slice` (a voxel index along the view's slice axis). Continuous, the
  /// exact inverse of voxel_to_screen.
  std::array<double, 3> screen_to_voxel(ViewKind kind, double u, double v, double slice) const;

  /// Slice number (voxel index along the view's slice axis) that shows the
  /// voxel `crosshair` (i, j, k).
  std::int64_t slice_of(ViewKind kind, const std::array<std::int64_t, 3>& crosshair) const;

  /// Patient position (mm, LPS) of a continuous voxel index (i, j, k).
  std::array<double, 3> voxel_to_patient(const std::array<double, 3>& voxel) const;
  /// Continuous voxel index (i, j, k) of a patient position (mm, LPS); the
  /// inverse of voxel_to_patient (direction need not be orthonormal, only
  /// invertible). Round to get the voxel that contains the point.
  std::array<double, 3> patient_to_voxel(const std::array<double, 3>& patient_mm) const;

  /// True when the voxel index (i, j, k) lies inside the grid.
  bool contains(const std::array<std::int64_t, 3>& voxel) const;

  /// Copies slice `slice` of view `kind` from `data` — a contiguous (D, H, W)
  /// buffer of this grid, i.e. data[k][j][i] — into `out`, row-major in
  /// screen order: out[v * width + u], width x height values. Plain stride
  /// arithmetic (no per-voxel calls) with the memory-contiguous axis in the
  /// inner loop whichever it is. Throws medseg::IoError for a slice outside
  /// [0, slice_count).
  template <typename T>
  void extract_slice(ViewKind kind, std::int64_t slice, const T* data, T* out) const;

 private:
  void build_views();

  pipeline::Geometry geometry_;
  DisplayConvention convention_;
  std::string code_;
  /// For each voxel axis: the LPS world axis it is paired with (0 = x L/R,
  /// 1 = y P/A, 2 = z S/I) and +1 if it points toward L/P/S, -1 toward R/A/I.
  std::array<int, 3> world_axis_of_voxel_{};
  std::array<int, 3> sign_of_voxel_{};
  /// The inverse 3x3 of direction * diag(spacing), row-major (mm -> voxel).
  std::array<double, 9> world_to_index_{};
  std::array<ViewMapping, 3> views_{};
};

extern template void SliceGeometry::extract_slice<float>(ViewKind, std::int64_t, const float*, float*) const;
extern template void SliceGeometry::extract_slice<std::int16_t>(ViewKind, std::int64_t, const std::int16_t*,
                                                                std::int16_t*) const;

/// "axial", "coronal", "sagittal" (for messages and CSV).
const char* view_name(ViewKind kind);

}  // namespace medseg::gui
