#include "pipeline/data/fingerprint.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>

#include "core/error.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/label_kernels.h"
#include "pipeline/preprocess/crop.h"
#include "pipeline/preprocess/reorient.h"

namespace medseg::pipeline {

struct FingerprintBuilder::State {
  DatasetFingerprint fp;
  /// Per channel: the foreground samples of every case added so far.
  std::vector<std::vector<at::Tensor>> samples;
};

FingerprintBuilder::FingerprintBuilder(const Dataset& dataset, const FingerprintOptions& options)
    : dataset_(dataset), options_(options), state_(std::make_unique<State>()) {
  state_->fp.orientation = options.orientation;
  state_->samples.resize(dataset.channel_names.size());
}

FingerprintBuilder::~FingerprintBuilder() = default;

namespace {

// Every `stride`-th foreground (label > 0) value of `image`, in the voxel
// order of the volume reoriented by `m`: what masked_select() on reoriented
// copies followed by a strided slice gives, without making the copies.
at::Tensor sample_foreground(const at::Tensor& image_in, const at::Tensor& labels, const AxisMapping& m,
                             std::int64_t stride) {
  const at::Tensor image = image_in.to(at::kFloat).contiguous();
  const float* img = image.data_ptr<float>();
  const std::int16_t* lab = labels.data_ptr<std::int16_t>();
  // New axis a walks old index axis m.source[a] (tensor dim 2 - source),
  // backwards when flipped.
  std::array<std::int64_t, 3> count{}, step{};
  std::int64_t base = 0;
  for (int a = 0; a < 3; ++a) {
    const std::int64_t dim = 2 - m.source[a];
    count[a] = image.size(dim);
    step[a] = image.stride(dim);
    if (m.flip[a]) {
      base += (count[a] - 1) * step[a];
      step[a] = -step[a];
    }
  }
  std::vector<float> out;
  std::int64_t seen = 0;
  std::int64_t k_offset = base;
  for (std::int64_t k = 0; k < count[2]; ++k, k_offset += step[2]) {
    std::int64_t j_offset = k_offset;
    for (std::int64_t j = 0; j < count[1]; ++j, j_offset += step[1]) {
      std::int64_t offset = j_offset;
      for (std::int64_t i = 0; i < count[0]; ++i, offset += step[0]) {
        if (lab[offset] <= 0) continue;
        if (seen % stride == 0) out.push_back(img[offset]);
        ++seen;
      }
    }
  }
  return at::tensor(out, at::kFloat);
}

}  // namespace

void FingerprintBuilder::add(const CaseEntry& c, const Volume& label_map, const std::vector<Volume>& images) {
  if (images.empty() || images.size() != dataset_.channel_names.size()) {
    throw IoError("case " + c.id + ": " + std::to_string(images.size()) + " image(s), the dataset has " +
                  std::to_string(dataset_.channel_names.size()) + " channel(s)");
  }
  for (std::size_t ch = 0; ch < images.size(); ++ch) {
    if (images[ch].data.sizes() != label_map.data.sizes()) {
      throw IoError("case " + c.id + ": image '" + c.images[ch].string() + "' and label '" + c.label.string() +
                    "' differ in size");
    }
  }
  // Sizes, spacings and samples as in the reoriented volumes, read off the
  // volumes as they are (two 315 MB copies fewer per case for a large CT);
  // the labels' grid decides the axis mapping for all.
  const AxisMapping m = axis_mapping_to(label_map.geometry, options_.orientation);
  const at::Tensor labels = label_map.data.to(at::kShort).contiguous();
  CaseFingerprint cf;
  cf.id = c.id;
  at::Tensor channels = images[0].data;  // no stacked copy for one channel
  if (images.size() > 1) {
    std::vector<at::Tensor> all;
    for (const auto& image : images) all.push_back(image.data);
    channels = at::stack(all);
  }
  const BoundingBox box = nonzero_bounding_box(channels);
  for (int a = 0; a < 3; ++a) {
    const int s = m.source[a];
    cf.spacing[a] = label_map.geometry.spacing[s];
    cf.size[a] = label_map.geometry.size[s];
    cf.cropped_size[a] = box.stop[s] - box.start[s];
  }
  state_->fp.cases.push_back(cf);

  std::int64_t foreground = 0;
  for (const auto& [value, count] : value_histogram(labels)) {
    state_->fp.label_voxels[value] += count;
    if (value > 0) foreground += count;
  }
  const std::int64_t per_case = options_.max_foreground_samples_per_case;
  const std::int64_t stride = std::max<std::int64_t>(1, (foreground + per_case - 1) / per_case);
  for (std::size_t ch = 0; ch < images.size(); ++ch) {
    state_->samples[ch].push_back(sample_foreground(images[ch].data, labels, m, stride));
  }
}

DatasetFingerprint FingerprintBuilder::finish() {
  DatasetFingerprint fp = state_->fp;
  for (const auto& channel : state_->samples) {
    const at::Tensor all = channel.empty() ? at::empty({0}) : at::cat(channel);
    if (all.numel() == 0) throw IoError("dataset '" + dataset_.name + "': no foreground voxels in any case");
    fp.foreground_intensity.push_back(intensity_stats(all));
  }
  return fp;
}

DatasetFingerprint compute_fingerprint(const Dataset& dataset, const FingerprintOptions& options) {
  FingerprintBuilder builder(dataset, options);
  for (const auto& c : dataset.cases) {
    if (c.label.empty()) throw IoError("case " + c.id + ": no label file (the fingerprint needs labels)");
    const Volume labels = read_label_map(c.label);
    std::vector<Volume> images;
    for (const auto& file : c.images) images.push_back(read_volume(file));
    builder.add(c, labels, images);
  }
  return builder.finish();
}

}  // namespace medseg::pipeline
