// AdaBN adaptation: adapt_domain's statistics are the moments of each layer's
// input, only the adapted domain changes, add_adapted_domain grows a named
// domain whose statistics are those of the new images.
#include "pipeline/infer/adaptation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/domain_batch_norm.h"
#include "core/error.h"
#include "pipeline/infer/segmenter.h"
#include "tests/pipeline/common/test_files.h"
#include "tests/pipeline/common/tiny_bundle.h"
#include "tests/pipeline/infer/infer_helpers.h"

namespace medseg::pipeline {
namespace {
using test::blob_volume;
using test::make_tiny_bundle;
using test::oblique_direction;
using test_infer::fp32;
using test_infer::state_of;

TEST(AdaptDomain, StatisticsOfTheFirstLayerAreTheMomentsOfItsInput) {
  // Depth 1, one window covering the whole volume: the first batch norm sees
  // exactly conv(image), so its adapted statistics are that tensor's
  // per-channel mean and unbiased variance.
  test::TinyBundleSpec spec;
  spec.depth = 1;
  models::Bundle bundle = make_tiny_bundle(spec);
  models::UNet3d& model = bundle.model;
  const torch::Tensor image = torch::randn({1, 8, 8, 8}) * 4 + 3;
  adapt_domain(model, 1, {image}, {8, 8, 8});
  torch::NoGradGuard no_grad;
  const torch::Tensor conv = model->named_modules()["encoder0a.conv"]->as<torch::nn::Conv3dImpl>()->forward(
      image.unsqueeze(0));
  const torch::Tensor mean = conv.to(torch::kDouble).mean({0, 2, 3, 4});
  const torch::Tensor var = conv.to(torch::kDouble).var({0, 2, 3, 4}, /*unbiased=*/true);
  const auto buffers = model->named_buffers();
  const torch::Tensor running_mean = buffers["encoder0a.norm.running_mean"][1].to(torch::kDouble);
  const torch::Tensor running_var = buffers["encoder0a.norm.running_var"][1].to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(running_mean, mean, 1e-5, 1e-5)) << running_mean << mean;
  EXPECT_TRUE(torch::allclose(running_var, var, 1e-4, 1e-5)) << running_var << var;
  EXPECT_EQ(buffers["encoder0a.norm.num_batches_tracked"][1].item<std::int64_t>(), 1);
}

TEST(AdaptDomain, OnlyTheAdaptedDomainChanges) {
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  adapt_domain(bundle.model, 1, {torch::randn({1, 12, 10, 9}) * 5, torch::randn({1, 8, 8, 8})}, {8, 8, 8});
  const auto after = state_of(bundle.model);
  for (const auto& [name, tensor] : before) {
    if (name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos) {
      EXPECT_TRUE(torch::equal(tensor[0], after.at(name)[0])) << name;
      EXPECT_FALSE(torch::equal(tensor[1], after.at(name)[1])) << name;
    } else {
      EXPECT_TRUE(torch::equal(tensor, after.at(name))) << name;
    }
  }
}

TEST(AddAdaptedDomain, AddsANamedDomainThatSavesAndLoads) {
  test::TempDir tmp;
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  const std::int64_t index = add_adapted_domain(bundle, "scanner_c", {torch::randn({1, 9, 9, 9}) * 2 + 1});
  EXPECT_EQ(index, 2);
  EXPECT_EQ(bundle.info.domains, (std::vector<std::string>{"scanner_a", "scanner_b", "scanner_c"}));
  EXPECT_EQ(bundle.info.architecture.norm().num_domains(), 3);
  const auto adapted = state_of(bundle.model);
  models::save_bundle(tmp / "adapted", bundle.info, bundle.model);
  models::Bundle loaded = models::load_bundle(tmp / "adapted");
  EXPECT_EQ(loaded.info.domains, bundle.info.domains);
  const auto after = state_of(loaded.model);
  for (const char* name : {"encoder0a.norm.running_mean", "encoder0a.norm.running_var", "decoder0b.norm.running_var"}) {
    SCOPED_TRACE(name);
    // The old domains' statistics are kept...
    EXPECT_TRUE(torch::equal(before.at(name)[0], after.at(name)[0]));
    EXPECT_TRUE(torch::equal(before.at(name)[1], after.at(name)[1]));
    // ...and the new domain's statistics (see NewDomainHoldsTheMomentsOfEachLayerInput
    // for their values) are saved and loaded as they are.
    EXPECT_TRUE(torch::equal(adapted.at(name)[2], after.at(name)[2]));
  }
  EXPECT_TRUE(torch::equal(before.at("encoder0a.conv.weight"), after.at("encoder0a.conv.weight")));
  SegmentOptions o = fp32();
  o.domain = "scanner_c";
  EXPECT_NO_THROW(Segmenter(loaded).segment({blob_volume({9, 9, 9}, {1, 1, 1}, {0, 0, 0}, oblique_direction())}, o));
}

// AdaBN by hand with plain ATen ops: a depth-1 network (conv -> batch norm ->
// LeakyReLU, twice, then the head) and two images of exactly one patch each,
// so each forward pass sees one window. While adapting, every batch norm
// normalizes with the statistics of its current batch; the new domain's
// running statistics are the mean and unbiased variance of all values each
// layer saw, over both images.
TEST(AddAdaptedDomain, NewDomainHoldsTheMomentsOfEachLayerInput) {
  test::TinyBundleSpec spec;
  spec.depth = 1;
  models::Bundle bundle = make_tiny_bundle(spec);
  const auto p = state_of(bundle.model);
  torch::manual_seed(11);
  const std::vector<torch::Tensor> images{torch::randn({1, 8, 8, 8}) * 3 + 5, torch::rand({1, 8, 8, 8}) * 40 - 7};
  const std::int64_t index = add_adapted_domain(bundle, "scanner_c", images);
  ASSERT_EQ(index, 2);

  const double eps = 1e-5, slope = 0.01;
  const auto conv = [&](const torch::Tensor& x, const std::string& layer) {
    return at::conv3d(x.to(torch::kDouble), p.at(layer + ".conv.weight").to(torch::kDouble),
                      p.at(layer + ".conv.bias").to(torch::kDouble), {1, 1, 1}, {1, 1, 1});
  };
  const auto batch_norm_relu = [&](const torch::Tensor& y, const std::string& layer) {
    const auto view = [](const torch::Tensor& t) { return t.to(torch::kDouble).view({1, -1, 1, 1, 1}); };
    const torch::Tensor mean = y.mean({0, 2, 3, 4}, /*keepdim=*/true);
    const torch::Tensor var = (y - mean).pow(2).mean({0, 2, 3, 4}, /*keepdim=*/true);  // biased
    const torch::Tensor z = (y - mean) / (var + eps).sqrt() * view(p.at(layer + ".norm.weight")) +
                            view(p.at(layer + ".norm.bias"));
    return at::where(z > 0, z, z * slope);
  };
  std::vector<torch::Tensor> seen_a, seen_b;  // the inputs of the two norms
  for (const auto& image : images) {
    const torch::Tensor ya = conv(image.unsqueeze(0), "encoder0a");
    seen_a.push_back(ya);
    seen_b.push_back(conv(batch_norm_relu(ya, "encoder0a"), "encoder0b"));
  }
  const auto buffers = bundle.model->named_buffers();
  for (const auto& [layer, seen] : {std::pair{std::string("encoder0a"), at::cat(seen_a)},
                                    std::pair{std::string("encoder0b"), at::cat(seen_b)}}) {
    SCOPED_TRACE(layer);
    const torch::Tensor mean = seen.mean({0, 2, 3, 4});
    const torch::Tensor var = seen.var({0, 2, 3, 4}, /*unbiased=*/true);
    const torch::Tensor running_mean = buffers[layer + ".norm.running_mean"][index].to(torch::kDouble);
    const torch::Tensor running_var = buffers[layer + ".norm.running_var"][index].to(torch::kDouble);
    EXPECT_TRUE(torch::allclose(running_mean, mean, 1e-4, 1e-5)) << running_mean << mean;
    EXPECT_TRUE(torch::allclose(running_var, var, 1e-4, 1e-5)) << running_var << var;
    EXPECT_EQ(buffers[layer + ".norm.num_batches_tracked"][index].item<std::int64_t>(), 2);
    // Not the statistics of a domain the model already had.
    for (int old = 0; old < 2; ++old) {
      EXPECT_FALSE(torch::allclose(buffers[layer + ".norm.running_mean"][old].to(torch::kDouble), mean, 1e-2, 1e-2));
    }
  }
}

TEST(AddAdaptedDomain, RefusesAnExistingNameAndNonBatchNorm) {
  models::Bundle bundle = make_tiny_bundle();
  EXPECT_THROW(add_adapted_domain(bundle, "scanner_b", {torch::randn({1, 8, 8, 8})}), ModelError);
  EXPECT_EQ(bundle.info.domains.size(), 2u);
  EXPECT_EQ(bundle.model->options.norm().num_domains(), 2);
  test::TinyBundleSpec spec;
  spec.norm = models::NormKind::kInstance;
  models::Bundle instance = make_tiny_bundle(spec);
  try {
    add_adapted_domain(instance, "new", {torch::randn({1, 8, 8, 8})});
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to adapt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medseg::pipeline
