#pragma once
// The label statistics table: per label its voxel count, volume (mL), mean
// and SD of the scan under it, and the Dice against a loaded reference.
// Kept up to date after every edit by applying the edit's sparse change
// (cost proportional to the changed voxels) instead of rescanning a
// 512x512x300 volume after each brush stroke.
//
// Dice is counted here rather than by pipeline::compare_masks: that function
// takes one pair of bool masks per label and also computes HD95 and surface
// Dice with an ITK distance transform per label (seconds on a large CT), none
// of which the table shows; here one pass (or one sparse update) counts every
// label's overlap, and the value comes from the one Dice formula,
// pipeline::dice_from_counts (same NaN convention); a test checks the values
// against compare_masks.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "app/gui/logic/label_change.h"
#include "pipeline/volume.h"

namespace medseg::gui {

struct LabelStatisticsRow {
  std::int16_t label = 0;
  std::int64_t voxels = 0;
  /// voxels x spacing[0] x spacing[1] x spacing[2] / 1000 (mm^3 -> mL).
  double volume_ml = 0.0;
  /// Mean and population standard deviation (divide by n, as numpy.std and
  /// pipeline::summarize) of the scan's intensities under the label, in scan
  /// units (HU for CT). NaN when the label has no voxels.
  double mean = 0.0;
  double sd = 0.0;
  /// Voxels of this label in the reference; 0 without a reference.
  std::int64_t reference_voxels = 0;
  /// 2|A ∩ B| / (|A| + |B|) against the reference, as
  /// pipeline::compare_masks computes it; NaN without a reference (and,
  /// nnU-Net's convention, when both are empty, which a listed row never is).
  double dice = 0.0;
};

class LabelStatistics {
 public:
  /// `geometry`: the grid (spacing in mm gives the voxel volume).
  /// `intensities`: the scan, float32 (D, H, W), shared, not copied.
  /// Throws medseg::IoError when its shape does not match the grid.
  LabelStatistics(const pipeline::Geometry& geometry, at::Tensor intensities);

  /// Sets (int16 (D, H, W) label map on the same grid) or clears
  /// (undefined tensor) the reference for Dice. Call recompute() after.
  /// Throws medseg::IoError on a shape mismatch.
  void set_reference(const at::Tensor& reference);
  bool has_reference() const { return reference_.defined(); }

  /// Recounts everything from `labels`, int16 (D, H, W) contiguous: one pass
  /// over the volume.
  void recompute(const at::Tensor& labels);
  /// Updates the counts for an edit already applied to the label map
  /// (`undone` = false) or just undone (`undone` = true: its voxels went
  /// from `after` back to `before`). Cost: the change's voxel count.
  void apply(const LabelChange& change, bool undone);

  /// One row per label value other than 0 that the label map or the
  /// reference holds, ascending.
  std::vector<LabelStatisticsRow> rows() const;

 private:
  struct Accumulator {
    std::int64_t count = 0;
    double sum = 0.0;
    double sum_squares = 0.0;
    std::int64_t reference_count = 0;
    std::int64_t overlap = 0;  ///< voxels with this label in both maps
  };
  void add(std::int64_t index, std::int16_t label, int sign);
  Accumulator& at(std::int16_t label) { return accumulators_[static_cast<std::uint16_t>(label)]; }

  pipeline::Geometry geometry_;
  at::Tensor intensities_;
  at::Tensor reference_;
  // Raw pointers into the two tensors above (per-voxel updates skip
  // at::Tensor's type checks); reference_data_ is null without a reference.
  const float* scan_data_ = nullptr;
  const std::int16_t* reference_data_ = nullptr;
  /// Indexed by the label's 16 bits (so also negative values fit).
  std::vector<Accumulator> accumulators_;
};

/// The rows as CSV: a header line
/// `label,name,voxels,volume_ml,mean,sd,reference_voxels,dice` then one line
/// per row. `names` maps label values to names (missing: empty); names with
/// commas or quotes are quoted (RFC 4180). volume_ml has 6 decimals, mean and
/// sd 3, dice 6; reference_voxels and dice are empty cells without a
/// reference, NaN (no voxels) is an empty cell too.
std::string label_statistics_csv(const std::vector<LabelStatisticsRow>& rows,
                                 const std::map<int, std::string>& names, bool with_reference);

/// Writes label_statistics_csv() to `path` atomically (temporary file +
/// rename, core::write_text_file_atomically). Throws medseg::IoError.
void write_label_statistics_csv(const std::filesystem::path& path, const std::vector<LabelStatisticsRow>& rows,
                                const std::map<int, std::string>& names, bool with_reference);

}  // namespace medseg::gui
