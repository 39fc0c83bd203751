#include "pipeline/preprocess/connected_components.h"

#include <ATen/ATen.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <algorithm>
#include <cstring>

#include "pipeline/io/detail/itk_image.h"

namespace medseg::pipeline {

namespace {

// Components of the nonzero voxels, relabelled by size (1 = largest);
// components under `min_voxels` become 0.
at::Tensor sorted_components(const Volume& mask, std::int64_t min_voxels) {
  using LabelImage = itk::Image<std::uint32_t, 3>;
  const at::Tensor binary = (mask.data != 0).to(at::kFloat).contiguous();
  auto cc = itk::ConnectedComponentImageFilter<itk_bridge::FloatImage, LabelImage>::New();
  cc->SetInput(itk_bridge::view_as_itk(binary, mask.geometry));
  cc->FullyConnectedOn();
  auto relabel = itk::RelabelComponentImageFilter<LabelImage, LabelImage>::New();
  relabel->SetInput(cc->GetOutput());
  relabel->SetMinimumObjectSize(static_cast<itk::SizeValueType>(std::max<std::int64_t>(min_voxels, 0)));
  relabel->Update();  // sorted by size: label 1 is the largest
  const auto n = static_cast<std::size_t>(mask.geometry.num_voxels());
  at::Tensor labels = at::empty({mask.data.size(0), mask.data.size(1), mask.data.size(2)}, at::kInt);
  std::memcpy(labels.data_ptr<std::int32_t>(), relabel->GetOutput()->GetBufferPointer(),
              n * sizeof(std::uint32_t));
  return labels;
}

}  // namespace

Volume largest_component(const Volume& mask) {
  Volume out = mask;
  out.data = (sorted_components(mask, 0) == 1).to(at::kFloat);
  return out;
}

Volume remove_small_components(const Volume& mask, std::int64_t min_voxels) {
  Volume out = mask;
  out.data = (sorted_components(mask, min_voxels) > 0).to(at::kFloat);
  return out;
}

}  // namespace medseg::pipeline
