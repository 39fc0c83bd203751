#include "pipeline/eval/metrics.h"

#include <ATen/ATen.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "pipeline/grid_compare.h"
#include "pipeline/io/detail/itk_image.h"
#include "pipeline/preprocess/normalize.h"

namespace medseg::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Distance (mm) from every voxel to the nearest voxel of `target` (bool).
at::Tensor distance_map(const at::Tensor& target, const std::array<double, 3>& spacing) {
  using Image = itk::Image<unsigned char, 3>;
  using Distance = itk::Image<float, 3>;
  auto image = Image::New();
  Image::RegionType region;
  region.SetSize({static_cast<itk::SizeValueType>(target.size(2)), static_cast<itk::SizeValueType>(target.size(1)),
                  static_cast<itk::SizeValueType>(target.size(0))});
  image->SetRegions(region);
  Image::SpacingType sp;
  for (int d = 0; d < 3; ++d) sp[d] = spacing[d];
  image->SetSpacing(sp);
  image->Allocate();
  const at::Tensor bytes = target.to(at::kByte).contiguous();
  std::memcpy(image->GetBufferPointer(), bytes.data_ptr<std::uint8_t>(), static_cast<std::size_t>(bytes.numel()));
  auto filter = itk::SignedMaurerDistanceMapImageFilter<Image, Distance>::New();
  filter->SetInput(image);
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(false);
  filter->Update();
  at::Tensor out = at::empty(target.sizes(), at::kFloat);
  std::memcpy(out.data_ptr<float>(), filter->GetOutput()->GetBufferPointer(),
              sizeof(float) * static_cast<std::size_t>(out.numel()));
  // Every target voxel is a boundary voxel of a one-voxel-thick shell only
  // if we pass a surface; for safety take |d| and zero on target voxels.
  return out.abs().masked_fill_(target, 0.0f);
}

}  // namespace

double dice_from_counts(std::int64_t intersection, std::int64_t pred, std::int64_t ref) {
  const auto total = static_cast<double>(pred + ref);
  return total == 0.0 ? kNaN : 2.0 * static_cast<double>(intersection) / total;
}

std::vector<double> dice_per_label(const at::Tensor& prediction, const at::Tensor& reference,
                                   std::int64_t num_classes) {
  std::vector<double> dice;
  for (std::int64_t k = 1; k < num_classes; ++k) {
    const at::Tensor p = prediction == k;
    const at::Tensor r = reference == k;
    dice.push_back(dice_from_counts((p & r).sum().item<std::int64_t>(), p.sum().item<std::int64_t>(),
                                    r.sum().item<std::int64_t>()));
  }
  return dice;
}

at::Tensor surface_voxels(const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kBool);
  const at::Tensor padded = at::constant_pad_nd(m.to(at::kByte), {1, 1, 1, 1, 1, 1}, 0).to(at::kBool);
  at::Tensor interior = m.clone();
  const std::int64_t d = m.size(0), h = m.size(1), w = m.size(2);
  for (int axis = 0; axis < 3; ++axis) {
    for (int shift : {0, 2}) {
      std::array<std::int64_t, 3> start{1, 1, 1};
      start[static_cast<std::size_t>(axis)] = shift;
      interior &= padded.slice(0, start[0], start[0] + d).slice(1, start[1], start[1] + h).slice(2, start[2], start[2] + w);
    }
  }
  return m & ~interior;
}

at::Tensor surface_distances(const at::Tensor& from, const at::Tensor& to, const std::array<double, 3>& spacing) {
  const at::Tensor from_surface = surface_voxels(from);
  const at::Tensor to_surface = surface_voxels(to);
  const std::int64_t n = from_surface.sum().item<std::int64_t>();
  if (n == 0) return at::empty({0}, at::kDouble);
  if (!to_surface.any().item<bool>()) return at::full({n}, kInf, at::kDouble);
  return distance_map(to_surface, spacing).masked_select(from_surface).to(at::kDouble);
}

LabelMetrics compare_masks(const at::Tensor& pred_in, const at::Tensor& ref_in, const std::array<double, 3>& spacing,
                           const MetricOptions& options) {
  const at::Tensor pred = pred_in.to(at::kBool), ref = ref_in.to(at::kBool);
  LabelMetrics m;
  m.voxels_pred = pred.sum().item<std::int64_t>();
  m.voxels_ref = ref.sum().item<std::int64_t>();
  const double voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0;
  m.volume_pred_ml = static_cast<double>(m.voxels_pred) * voxel_ml;
  m.volume_ref_ml = static_cast<double>(m.voxels_ref) * voxel_ml;
  m.volume_difference_ml = m.volume_pred_ml - m.volume_ref_ml;
  if (m.voxels_pred == 0 && m.voxels_ref == 0) {
    m.dice = m.iou = m.hd95_mm = m.mean_surface_distance_mm = m.surface_dice = kNaN;
    return m;
  }
  const std::int64_t overlap = (pred & ref).sum().item<std::int64_t>();
  const auto intersection = static_cast<double>(overlap);
  const auto total = static_cast<double>(m.voxels_pred + m.voxels_ref);
  m.dice = dice_from_counts(overlap, m.voxels_pred, m.voxels_ref);
  m.iou = intersection / (total - intersection);
  if (m.voxels_pred == 0 || m.voxels_ref == 0) {
    m.hd95_mm = m.mean_surface_distance_mm = kInf;
    m.surface_dice = 0.0;
    return m;
  }
  const at::Tensor pr = surface_distances(pred, ref, spacing);
  const at::Tensor rp = surface_distances(ref, pred, spacing);
  m.hd95_mm = std::max(percentile(pr, 95.0), percentile(rp, 95.0));
  const at::Tensor all = at::cat({pr, rp});
  m.mean_surface_distance_mm = all.mean().item<double>();
  const double tol = options.surface_dice_tolerance_mm;
  m.surface_dice = static_cast<double>(((pr <= tol).sum() + (rp <= tol).sum()).item<std::int64_t>()) /
                   static_cast<double>(all.numel());
  return m;
}

std::vector<LabelMetrics> compare_label_maps(const Volume& pred, const Volume& ref, const std::vector<int>& labels,
                                             const MetricOptions& options) {
  const std::string diff = grid_difference(pred.geometry, ref.geometry);
  if (!diff.empty()) {
    throw IoError("cannot compare '" + pred.source_path + "' with '" + ref.source_path + "': grids differ (" +
                  diff + ")");
  }
  std::vector<LabelMetrics> out;
  for (int label : labels) {
    LabelMetrics m = compare_masks(pred.data == label, ref.data == label, pred.geometry.spacing, options);
    m.label = label;
    out.push_back(m);
  }
  return out;
}

}  // namespace medseg::pipeline
