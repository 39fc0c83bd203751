#include "pipeline/io/detail/itk_image.h"

#include <ATen/ATen.h>


namespace medseg::pipeline::itk_bridge {

Geometry geometry_of(const FloatImage& image) {
  Geometry g;
  const auto size = image.GetLargestPossibleRegion().GetSize();
  for (unsigned d = 0; d < 3; ++d) {
    g.size[d] = static_cast<std::int64_t>(size[d]);
    g.spacing[d] = image.GetSpacing()[d];
    g.origin[d] = image.GetOrigin()[d];
    for (unsigned c = 0; c < 3; ++c) g.direction[d * 3 + c] = image.GetDirection()[d][c];
  }
  return g;
}

FloatImage::Pointer view_as_itk(const at::Tensor& voxels, const Geometry& geometry) {
  TORCH_CHECK(voxels.is_contiguous() && voxels.scalar_type() == at::kFloat &&
                  voxels.numel() == geometry.num_voxels(),
              "view_as_itk needs contiguous float32 voxels matching the geometry (", voxels.sizes(), ")");
  auto image = FloatImage::New();
  apply_geometry(geometry, *image);
  image->GetPixelContainer()->SetImportPointer(const_cast<float*>(voxels.data_ptr<float>()),
                                               static_cast<itk::SizeValueType>(voxels.numel()),
                                               /*LetContainerManageMemory=*/false);
  return image;
}

Volume from_itk(FloatImage::Pointer image) {
  Volume v;
  v.geometry = geometry_of(*image);
  // The tensor borrows ITK's buffer and keeps the image alive until the
  // tensor's storage is freed: no copy of a possibly huge volume.
  float* buffer = image->GetBufferPointer();
  v.data = at::from_blob(buffer, {v.geometry.size[2], v.geometry.size[1], v.geometry.size[0]},
                         [image](void*) mutable { image = nullptr; }, at::TensorOptions(at::kFloat));
  v.pixel_type = "float32";
  return v;
}

}  // namespace medseg::pipeline::itk_bridge
