#pragma once
// Segmentation metrics in physical space (mm, mL), per label.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "pipeline/volume.h"

namespace medseg::pipeline {

struct LabelMetrics {
  int label = 0;
  std::int64_t voxels_pred = 0;
  std::int64_t voxels_ref = 0;
  /// NaN when both masks are empty (nnU-Net's convention; summaries skip NaN).
  double dice = 0.0;
  double iou = 0.0;
  /// Symmetric 95th-percentile Hausdorff distance: max of the two directed
  /// 95th percentiles of surface-to-surface distances (MONAI's definition).
  /// NaN when both are empty, +inf when exactly one is.
  double hd95_mm = 0.0;
  /// Mean of all surface distances in both directions.
  double mean_surface_distance_mm = 0.0;
  /// Normalized surface Dice: share of surface voxels of either mask within
  /// `tolerance_mm` of the other's surface.
  double surface_dice = 0.0;
  double volume_pred_ml = 0.0;
  double volume_ref_ml = 0.0;
  double volume_difference_ml = 0.0;  ///< pred - ref
};

struct MetricOptions {
  double surface_dice_tolerance_mm = 1.0;
};

/// 2|P∩R| / (|P| + |R|) from voxel counts; NaN when both masks are empty.
/// The one Dice formula: metrics, training validation and the GUI use it.
double dice_from_counts(std::int64_t intersection, std::int64_t pred, std::int64_t ref);

/// Dice of label k for k = 1..num_classes-1 between two integer label maps
/// of equal shape (voxel overlap, no spacing needed); NaN where both lack
/// the label.
std::vector<double> dice_per_label(const at::Tensor& prediction, const at::Tensor& reference,
                                   std::int64_t num_classes);

/// Foreground voxels with a 6-neighbour outside the mask (or on the volume
/// border). `mask` is bool (D, H, W).
at::Tensor surface_voxels(const at::Tensor& mask);

/// Distances (mm) from every surface voxel of `from` to the nearest surface
/// voxel of `to` (exact Euclidean, ITK's Maurer distance transform with the
/// voxel spacing). Empty when `from` has no surface; +inf values when `to`
/// has none.
at::Tensor surface_distances(const at::Tensor& from, const at::Tensor& to, const std::array<double, 3>& spacing);

/// Metrics of one binary mask pair (bool (D, H, W)) on a grid with `spacing`.
LabelMetrics compare_masks(const at::Tensor& pred, const at::Tensor& ref, const std::array<double, 3>& spacing,
                           const MetricOptions& options = {});

/// Metrics for every label in `labels` of two label maps. Throws IoError
/// naming both files when their grids differ.
std::vector<LabelMetrics> compare_label_maps(const Volume& pred, const Volume& ref, const std::vector<int>& labels,
                                             const MetricOptions& options = {});

}  // namespace medseg::pipeline
