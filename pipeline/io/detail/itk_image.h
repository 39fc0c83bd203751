#pragma once
// Internal to pipeline/io and pipeline/preprocess: conversion between Volume
// and itk::Image. Never include this from a public header.
#include <ATen/core/Tensor.h>
#include <itkImage.h>

#include <string>

#include "pipeline/volume.h"

namespace medseg::pipeline::itk_bridge {

using FloatImage = itk::Image<float, 3>;

/// Copies geometry from an ITK image.
Geometry geometry_of(const FloatImage& image);
/// An ITK image that reads `voxels` (contiguous float32, (D, H, W)) in
/// place, without copying. The tensor must outlive the image; filters must
/// only read it.
FloatImage::Pointer view_as_itk(const at::Tensor& voxels, const Geometry& geometry);
/// Wraps an ITK float image in a Volume without copying: the tensor shares
/// the image's buffer and holds a reference to the image.
Volume from_itk(FloatImage::Pointer image);
/// Sets geometry (origin, spacing, direction, size) on any 3D ITK image.
template <typename TImage>
void apply_geometry(const Geometry& geometry, TImage& image) {
  typename TImage::RegionType region;
  typename TImage::SpacingType spacing;
  typename TImage::PointType origin;
  typename TImage::DirectionType direction;
  for (unsigned d = 0; d < 3; ++d) {
    region.SetSize(d, static_cast<itk::SizeValueType>(geometry.size[d]));
    region.SetIndex(d, 0);
    spacing[d] = geometry.spacing[d];
    origin[d] = geometry.origin[d];
    for (unsigned c = 0; c < 3; ++c) direction[d][c] = geometry.direction[d * 3 + c];
  }
  image.SetRegions(region);
  image.SetSpacing(spacing);
  image.SetOrigin(origin);
  image.SetDirection(direction);
}

}  // namespace medseg::pipeline::itk_bridge
