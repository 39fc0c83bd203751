#include "pipeline/data/fingerprint.h"

#include <ATen/ATen.h>

#include "models/error.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/preprocess/crop.h"
#include "pipeline/preprocess/reorient.h"

namespace medseg::pipeline {

DatasetFingerprint compute_fingerprint(const Dataset& dataset, const FingerprintOptions& options) {
  DatasetFingerprint fp;
  fp.orientation = options.orientation;
  const Reorient reorient(options.orientation);
  std::vector<std::vector<at::Tensor>> samples(dataset.channel_names.size());
  for (const auto& c : dataset.cases) {
    if (c.label.empty()) throw IoError("case " + c.id + ": no label file (the fingerprint needs labels)");
    const Volume labels = reorient(read_label_map(c.label));
    std::vector<at::Tensor> channels;
    for (const auto& file : c.images) channels.push_back(reorient(read_volume(file)).data);
    if (channels.size() != dataset.channel_names.size()) {
      throw IoError("case " + c.id + ": " + std::to_string(channels.size()) + " image(s), the dataset has " +
                    std::to_string(dataset.channel_names.size()) + " channel(s)");
    }
    CaseFingerprint cf;
    cf.id = c.id;
    cf.spacing = labels.geometry.spacing;
    cf.size = labels.geometry.size;
    const BoundingBox box = nonzero_bounding_box(at::stack(channels));
    for (int d = 0; d < 3; ++d) cf.cropped_size[d] = box.stop[d] - box.start[d];
    fp.cases.push_back(cf);

    const at::Tensor fg = labels.data > 0;
    const std::int64_t n = fg.sum().item<std::int64_t>();
    const std::int64_t stride = std::max<std::int64_t>(1, (n + options.max_foreground_samples_per_case - 1) /
                                                             options.max_foreground_samples_per_case);
    for (std::size_t ch = 0; ch < channels.size(); ++ch) {
      if (channels[ch].sizes() != labels.data.sizes()) {
        throw IoError("case " + c.id + ": image '" + c.images[ch].string() + "' and label '" +
                      c.label.string() + "' differ in size");
      }
      samples[ch].push_back(channels[ch].masked_select(fg).slice(0, 0, n, stride));
    }
    const at::Tensor values = labels.data.reshape({-1}).to(at::kLong);
    const at::Tensor counts = at::bincount(values);
    for (std::int64_t v = 0; v < counts.numel(); ++v) {
      const auto count = counts[v].item<std::int64_t>();
      if (count > 0) fp.label_voxels[static_cast<int>(v)] += count;
    }
  }
  for (auto& channel : samples) {
    const at::Tensor all = at::cat(channel);
    if (all.numel() == 0) throw IoError("dataset '" + dataset.name + "': no foreground voxels in any case");
    fp.foreground_intensity.push_back(intensity_stats(all));
  }
  return fp;
}

}  // namespace medseg::pipeline
