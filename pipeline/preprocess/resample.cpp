#include "pipeline/preprocess/resample.h"

#include <ATen/ATen.h>
#include <itkBSplineInterpolateImageFunction.h>
#include <itkIdentityTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <cmath>

#include "core/error.h"
#include "pipeline/io/detail/itk_image.h"
#include "pipeline/preprocess/label_resample_kernel.h"

namespace medseg::pipeline {
using itk_bridge::FloatImage;

Geometry grid_with_spacing(const Geometry& grid, const std::array<double, 3>& spacing) {
  Geometry out = grid;
  std::array<double, 3> shift{0, 0, 0};  // in index units of the old grid's axes
  for (int d = 0; d < 3; ++d) {
    const double extent = static_cast<double>(grid.size[d]) * grid.spacing[d];
    out.size[d] = std::max<std::int64_t>(1, std::llround(extent / spacing[d]));
    out.spacing[d] = spacing[d];
    // Centre of the new grid's first voxel, measured from the old first
    // voxel centre along axis d, in mm; keeps both grids centred.
    const double new_extent = static_cast<double>(out.size[d]) * spacing[d];
    shift[d] = -0.5 * grid.spacing[d] + 0.5 * (extent - new_extent) + 0.5 * spacing[d];
  }
  for (int r = 0; r < 3; ++r) {
    out.origin[r] = grid.origin[r];
    for (int c = 0; c < 3; ++c) out.origin[r] += grid.direction_at(r, c) * shift[c];
  }
  return out;
}

Volume resample(const Volume& image, const Geometry& target, Interpolation interpolation,
                double outside_value) {
  if (image.data.dim() == 4) {  // (C, D, H, W): one channel at a time
    std::vector<at::Tensor> channels;
    for (std::int64_t c = 0; c < image.data.size(0); ++c) {
      Volume channel = image;
      channel.data = image.data[c];
      channels.push_back(resample(channel, target, interpolation, outside_value).data);
    }
    Volume out = image;
    out.geometry = target;
    out.data = at::stack(channels);
    return out;
  }
  const at::Tensor voxels = image.data.to(at::kFloat).contiguous();
  auto input = itk_bridge::view_as_itk(voxels, image.geometry);
  auto reference = FloatImage::New();
  itk_bridge::apply_geometry(target, *reference);

  using Filter = itk::ResampleImageFilter<FloatImage, FloatImage>;
  auto filter = Filter::New();
  filter->SetInput(input);
  filter->SetTransform(itk::IdentityTransform<double, 3>::New());
  filter->UseReferenceImageOn();
  filter->SetReferenceImage(reference);
  filter->SetDefaultPixelValue(static_cast<float>(outside_value));
  switch (interpolation) {
    case Interpolation::kNearest:
      filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<FloatImage, double>::New());
      break;
    case Interpolation::kLinear:
      filter->SetInterpolator(itk::LinearInterpolateImageFunction<FloatImage, double>::New());
      break;
    case Interpolation::kBSpline: {
      auto bspline = itk::BSplineInterpolateImageFunction<FloatImage, double, float>::New();
      bspline->SetSplineOrder(3);
      filter->SetInterpolator(bspline);
      break;
    }
  }
  filter->Update();
  FloatImage::Pointer result = filter->GetOutput();
  result->DisconnectPipeline();
  Volume out = itk_bridge::from_itk(result);
  out.source_path = image.source_path;
  out.pixel_type = image.pixel_type;
  out.metadata = image.metadata;
  return out;
}

Volume resample_labels(const Volume& labels, const Geometry& target,
                       LabelInterpolation interpolation) {
  if (interpolation == LabelInterpolation::kNearest) {
    Volume out = resample(labels, target, Interpolation::kNearest);
    out.data = out.data.to(labels.data.scalar_type());
    return out;
  }
  if (auto fast = resample_labels_axis_aligned(labels, target)) return *std::move(fast);
  const at::Tensor values = std::get<0>(at::_unique(labels.data.to(at::kFloat).round()));
  at::Tensor best_score = at::full({target.size[2], target.size[1], target.size[0]}, -1.0f);
  at::Tensor best_label = at::zeros_like(best_score);
  bool has_background = false;
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const float label = values[i].item<float>();
    has_background = has_background || label == 0.0f;
    Volume indicator = labels;
    indicator.data = (labels.data.to(at::kFloat).round() == label).to(at::kFloat);
    const at::Tensor score = resample(indicator, target, Interpolation::kLinear).data;
    const at::Tensor better = score > best_score;
    best_score = at::where(better, score, best_score);
    best_label = at::where(better, at::full_like(best_label, label), best_label);
  }
  if (!has_background) {
    // Outside the input field of view nothing scores; that is background.
    best_label = at::where(best_score <= 0.0f, at::zeros_like(best_label), best_label);
  }
  Volume out;
  out.geometry = target;
  out.data = best_label.to(labels.data.scalar_type());
  out.source_path = labels.source_path;
  out.pixel_type = labels.pixel_type;
  out.metadata = labels.metadata;
  return out;
}


ResampleToSpacing::ResampleToSpacing(std::array<double, 3> spacing, Interpolation image_interpolation,
                                     LabelInterpolation label_interpolation)
    : spacing_(spacing),
      image_interpolation_(image_interpolation),
      label_interpolation_(label_interpolation) {
  for (double s : spacing_) {
    if (!(s > 0.0)) throw ConfigError("target spacing must be positive, got " + std::to_string(s));
  }
}

Volume ResampleToSpacing::operator()(const Volume& volume, VolumeKind kind) const {
  const Geometry target = grid_with_spacing(volume.geometry, spacing_);
  return resample_onto(volume, target, kind, image_interpolation_, label_interpolation_);
}

Volume resample_onto(const Volume& volume, const Geometry& target, VolumeKind kind,
                     Interpolation image_interpolation, LabelInterpolation label_interpolation) {
  if (target.size == volume.geometry.size && target.spacing == volume.geometry.spacing &&
      target.origin == volume.geometry.origin && target.direction == volume.geometry.direction) {
    return volume;  // identity: keep the voxels exactly
  }
  switch (kind) {
    case VolumeKind::kLabels: return resample_labels(volume, target, label_interpolation);
    case VolumeKind::kProbabilities: return resample(volume, target, Interpolation::kLinear);
    case VolumeKind::kImage: break;
  }
  return resample(volume, target, image_interpolation);
}

}  // namespace medseg::pipeline
