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
/// Copies a Volume into a new ITK float image with the same geometry.
FloatImage::Pointer to_itk(const Volume& volume);
/// An ITK image that reads `voxels` (contiguous float32, (D, H, W)) in
/// place, without copying. The tensor must outlive the image; filters must
/// only read it.
FloatImage::Pointer view_as_itk(const at::Tensor& voxels, const Geometry& geometry);
/// Copies an ITK float image into a new Volume (data float32, (D, H, W)).
Volume from_itk(const FloatImage& image);
/// Wraps an ITK float image in a Volume without copying: the tensor shares
/// the image's buffer and holds a reference to the image.
Volume from_itk(FloatImage::Pointer image);
/// Sets geometry (origin, spacing, direction, size) on an ITK image region.
void apply_geometry(const Geometry& geometry, FloatImage& image);

}  // namespace medseg::pipeline::itk_bridge
