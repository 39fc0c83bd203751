#include "pipeline/samples/sample_maker.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/preprocess/connected_components.h"
#include "pipeline/preprocess/resample.h"
#include "pipeline/samples/invesalius_project.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {
constexpr std::array<double, 3> kSampleSpacing{2.0, 2.0, 2.0};
}

std::vector<SampleFile> make_mri_samples(const fs::path& templates, const fs::path& output) {
  const Volume t1 = read_volume(templates / "ch2.nii.gz");
  const Volume bet = read_volume(templates / "ch2bet.nii.gz");
  const Geometry grid = grid_with_spacing(t1.geometry, kSampleSpacing);

  fs::create_directories(output / "mri");
  std::vector<SampleFile> written;
  const fs::path t1_path = output / "mri" / "t1.nii.gz";
  write_volume(resample(t1, grid, Interpolation::kLinear), t1_path, PixelType::kUInt8);
  written.push_back({t1_path, "ch2.nii.gz, linear resampling to 2 mm (same field of view), "
                              "rounded to uint8"});

  Volume mask = bet;
  mask.data = (bet.data > 0).to(at::kFloat);
  const fs::path mask_path = output / "mri" / "brain_mask.nii.gz";
  write_volume(resample_labels(mask, grid), mask_path, PixelType::kUInt8);
  written.push_back({mask_path, "ch2bet.nii.gz > 0 (1 = brain), resampled to 2 mm as a label map "
                                "(per-label linear, then argmax)"});
  return written;
}

std::vector<SampleFile> make_ct_samples(const fs::path& project_folder, const fs::path& output) {
  const InvesaliusProject project = read_invesalius_project(project_folder);
  if (project.masks.size() < 2) {
    throw IoError("cannot read '" + project_folder.string() +
                  "': expected two masks (bone, head), found " +
                  std::to_string(project.masks.size()));
  }
  const Volume& ct = project.image;
  const at::Tensor bone = project.masks[0].mask.data > 0;
  const at::Tensor head = largest_component(project.masks[1].mask).data > 0;
  Volume labels = ct;
  labels.data = at::zeros_like(ct.data);
  labels.data.masked_fill_(head, 2.0f);
  labels.data.masked_fill_(bone, 1.0f);

  const Geometry grid = grid_with_spacing(ct.geometry, kSampleSpacing);
  fs::create_directories(output / "ct");
  std::vector<SampleFile> written;
  const fs::path ct_path = output / "ct" / "head_ct.nii.gz";
  write_volume(resample(ct, grid, Interpolation::kLinear, -1024.0), ct_path, PixelType::kInt16);
  written.push_back({ct_path, "matrix.dat (int16 HU, 0.957x0.957x1.5 mm), linear resampling to "
                              "2 mm (same field of view)"});
  const fs::path labels_path = output / "ct" / "head_ct_labels.nii.gz";
  write_volume(resample_labels(labels, grid), labels_path, PixelType::kUInt8);
  written.push_back({labels_path, "1 = bone (mask_0, 226..3071 HU), 2 = other head tissue "
                                  "(largest component of mask_1, -142..2986 HU, minus bone), "
                                  "resampled to 2 mm as a label map"});
  return written;
}

}  // namespace medseg::pipeline
