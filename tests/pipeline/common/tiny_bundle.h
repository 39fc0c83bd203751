#pragma once
// Test helper: a tiny random-initialised model bundle (U-Net with 4 base
// features, depth 2, batch norm with two domains whose statistics differ)
// with a preprocessing plan that reorients to RAS and resamples, written with
// save_bundle like a trained one.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "models/bundle.h"
#include "pipeline/preprocess/plan_json.h"
#include "pipeline/volume.h"

namespace medseg::test {

struct TinyBundleSpec {
  std::int64_t in_channels = 1;
  std::int64_t depth = 2;
  models::NormKind norm = models::NormKind::kBatch;
  std::array<double, 3> target_spacing{1.5, 1.5, 1.5};
  /// "none" keeps intensity shifts visible to the network (adaptation tests).
  std::string normalization = "none";
  std::array<std::int64_t, 3> patch_size{8, 8, 8};
  std::uint64_t seed = 3;
};

inline models::Bundle make_tiny_bundle(const TinyBundleSpec& spec = {}) {
  torch::manual_seed(static_cast<std::uint64_t>(spec.seed));
  models::NormOptions norm(spec.norm);
  if (spec.norm == models::NormKind::kBatch) norm.num_domains(2);
  if (spec.norm == models::NormKind::kInstance) norm.affine(true);
  models::UNet3dOptions options(spec.in_channels, 2);
  options.base_features(4).max_features(8).depth(spec.depth).norm(norm);
  models::UNet3d model(options);
  if (spec.norm == models::NormKind::kBatch) {
    // Distinct statistics per domain: domain 1 saw brighter, wider input.
    model->train();
    torch::NoGradGuard no_grad;
    for (int step = 0; step < 4; ++step) {
      model->forward(torch::randn({2, spec.in_channels, 8, 8, 8}), torch::tensor({0, 0}, torch::kLong));
      model->forward(torch::randn({2, spec.in_channels, 8, 8, 8}) * 3 + 2, torch::tensor({1, 1}, torch::kLong));
    }
  }
  model->eval();

  pipeline::PreprocessingPlan plan;
  plan.orientation = "RAS";
  plan.crop_to_nonzero = true;
  plan.target_spacing = spec.target_spacing;
  pipeline::NormalizationRecipe recipe;
  recipe.kind = pipeline::parse_normalization_kind(spec.normalization);
  plan.normalization.assign(static_cast<std::size_t>(spec.in_channels), recipe);

  models::Bundle bundle;
  bundle.info.name = "tiny";
  bundle.info.version = "7";
  bundle.info.architecture = model->options;
  for (std::int64_t c = 0; c < spec.in_channels; ++c) bundle.info.channel_names.push_back("ch" + std::to_string(c));
  bundle.info.labels = {{0, "background", {0, 0, 0}}, {1, "organ", {255, 0, 0}}};
  if (spec.norm == models::NormKind::kBatch) bundle.info.domains = {"scanner_a", "scanner_b"};
  bundle.info.patch_size = spec.patch_size;
  bundle.info.preprocessing_json = pipeline::plan_to_json(plan);
  bundle.info.provenance.medseg_version = "test";
  bundle.info.provenance.metrics = {{"dice/organ", 0.5}};
  bundle.model = model;
  return bundle;
}

inline void save_tiny_bundle(const std::filesystem::path& dir, const TinyBundleSpec& spec = {}) {
  models::Bundle b = make_tiny_bundle(spec);
  models::save_bundle(dir, b.info, b.model);
}

/// Row-major rotation R = Rz(a) * Rx(b): an oblique direction matrix.
inline std::array<double, 9> oblique_direction(double a = 0.5, double b = 0.3) {
  const double ca = std::cos(a), sa = std::sin(a), cb = std::cos(b), sb = std::sin(b);
  // Rz = [[ca,-sa,0],[sa,ca,0],[0,0,1]], Rx = [[1,0,0],[0,cb,-sb],[0,sb,cb]]
  return {ca, -sa * cb, sa * sb, sa, ca * cb, -ca * sb, 0.0, sb, cb};
}

/// A (D, H, W) volume with a bright blob on a dim, nonzero background.
inline pipeline::Volume blob_volume(const std::array<std::int64_t, 3>& size, const std::array<double, 3>& spacing,
                                    const std::array<double, 3>& origin, const std::array<double, 9>& direction,
                                    double gain = 1.0, double offset = 0.0) {
  pipeline::Volume v;
  v.geometry.size = size;
  v.geometry.spacing = spacing;
  v.geometry.origin = origin;
  v.geometry.direction = direction;
  const auto k = torch::arange(size[2], torch::kFloat).view({-1, 1, 1}) - size[2] / 2.0;
  const auto j = torch::arange(size[1], torch::kFloat).view({1, -1, 1}) - size[1] / 2.0;
  const auto i = torch::arange(size[0], torch::kFloat).view({1, 1, -1}) - size[0] / 2.0;
  const auto r2 = i * i + j * j + k * k;
  v.data = (torch::exp(-r2 / 12.0) * 2.0 + 0.2 + 0.05 * torch::sin(i + 2 * j + 3 * k)) * gain + offset;
  v.data = v.data.to(torch::kFloat).contiguous();
  // A zero border on two sides, so crop-to-nonzero has work to undo.
  v.data.slice(0, 0, 1).zero_();
  v.data.slice(2, size[0] - 2, size[0]).zero_();
  v.pixel_type = "float32";
  return v;
}

}  // namespace medseg::test
