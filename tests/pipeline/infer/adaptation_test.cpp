// Label-free adaptation: AdaBN's statistics are the moments of each layer's
// input over every window; prior's are the per-batch averages over windows
// drawn like training patches, mixed with the source; TENT lowers the
// entropy through the scale/shift only; only the adapted domain changes;
// add_adapted_domain grows a named domain; the safety check measures what it
// says.
#include "pipeline/infer/adaptation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/domain_batch_norm.h"
#include "pipeline/infer/adaptation_check.h"
#include "pipeline/infer/body_mask.h"
#include "pipeline/infer/predictor.h"
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
  AdaptationOptions o;
  o.method = AdaptationMethod::kAdaBN;
  adapt_domain(model, 1, {image}, {8, 8, 8}, o);
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

TEST(AdaptDomain, LayersLimitAdaptsOnlyTheFirstLayersInForwardOrder) {
  // The first layers see the same inputs whether or not the deeper ones
  // adapt, so with layers = 2 their statistics equal those of a full AdaBN;
  // every later layer keeps the domain's statistics exactly.
  const torch::Tensor image = torch::randn({1, 12, 10, 9}) * 5 + 2;
  models::Bundle all = make_tiny_bundle();
  models::Bundle first_two = make_tiny_bundle();
  const auto before = state_of(first_two.model);
  // In train mode the layers left out would learn running statistics from
  // the pass: the limit must hold them to their statistics.
  first_two.model->train();
  AdaptationOptions o;
  o.method = AdaptationMethod::kAdaBN;
  adapt_domain(all.model, 1, {image}, {8, 8, 8}, o);
  o.layers = 2;
  adapt_domain(first_two.model, 1, {image}, {8, 8, 8}, o);
  const auto full = state_of(all.model);
  const auto limited = state_of(first_two.model);
  int adapted = 0, kept = 0;
  for (const auto& [name, tensor] : limited) {
    if (name.find("running_") == std::string::npos) continue;
    const bool first = name.rfind("encoder0a.norm.", 0) == 0 || name.rfind("encoder0b.norm.", 0) == 0;
    EXPECT_TRUE(torch::equal(tensor[0], before.at(name)[0])) << name;
    if (first) {
      EXPECT_TRUE(torch::allclose(tensor[1], full.at(name)[1], 1e-5, 1e-6)) << name;
      EXPECT_FALSE(torch::equal(tensor[1], before.at(name)[1])) << name;
      ++adapted;
    } else {
      EXPECT_TRUE(torch::equal(tensor[1], before.at(name)[1])) << name;
      EXPECT_FALSE(torch::allclose(full.at(name)[1], before.at(name)[1])) << name << ": AdaBN moves every layer";
      ++kept;
    }
  }
  EXPECT_EQ(adapted, 4);  // mean and variance of two layers
  EXPECT_GT(kept, 4);
  EXPECT_TRUE(first_two.model->is_training());  // the caller's mode is restored
}

TEST(AdaptDomain, LayersLimitRefusesMoreLayersThanTheModelHasAndChangesNothing) {
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  AdaptationOptions o;
  o.layers = 1000;
  try {
    adapt_domain(bundle.model, 1, {torch::randn({1, 8, 8, 8})}, {8, 8, 8}, o);
    ADD_FAILURE() << "1000 layers accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("batch-norm layers"), std::string::npos) << e.what();
  }
  o.layers = -1;
  EXPECT_THROW(adapt_domain(bundle.model, 1, {torch::randn({1, 8, 8, 8})}, {8, 8, 8}, o), ConfigError);
  for (const auto& [name, tensor] : state_of(bundle.model)) EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name;
}

TEST(AdaptDomain, TentWithALayersLimitLearnsOnlyThoseLayersScaleAndShift) {
  models::Bundle bundle = make_tiny_bundle();
  torch::manual_seed(6);
  const torch::Tensor image = torch::rand({1, 8, 8, 8}) * 20 + 5;
  const auto before = state_of(bundle.model);
  AdaptationOptions o;
  o.method = AdaptationMethod::kTent;
  o.windows_per_image = 4;
  o.body_fraction = 1.0;
  o.tent_steps = 10;
  o.tent_learning_rate = 0.02;
  o.layers = 1;
  adapt_domain(bundle.model, 1, {image}, {8, 8, 8}, o);
  bool first_moved = false;
  for (const auto& [name, tensor] : state_of(bundle.model)) {
    const bool affine = name.find(".norm.weight") != std::string::npos || name.find(".norm.bias") != std::string::npos;
    if (!affine) continue;
    if (name.rfind("encoder0a.norm.", 0) == 0) {
      first_moved = first_moved || !torch::equal(tensor, before.at(name));
    } else {
      EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name;
    }
  }
  EXPECT_TRUE(first_moved);
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
  AdaptationOptions o;
  o.method = AdaptationMethod::kAdaBN;
  const std::int64_t index = add_adapted_domain(bundle, "scanner_c", images, o);
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

TEST(AdaptationWindows, SlidingForAdaBNAndSeededTrainingLikeDrawsOtherwise) {
  const torch::Tensor image = torch::zeros({1, 20, 24, 30});
  image.slice(1, 4, 9).slice(2, 5, 12).slice(3, 20, 27).fill_(5.0f);  // a small body off centre
  const torch::Tensor body = body_mask(image).mask;
  AdaptationOptions o;
  o.method = AdaptationMethod::kAdaBN;
  o.overlap = 0.5;
  // Starts per axis for patch 8, overlap 0.5: i 0..22 by 4ish (30), j (24), k (20).
  const std::size_t sliding = window_starts(30, 8, 0.5).size() * window_starts(24, 8, 0.5).size() *
                              window_starts(20, 8, 0.5).size();
  EXPECT_EQ(adaptation_windows(image, body, {8, 8, 8}, o, 1).size(), sliding);

  o.method = AdaptationMethod::kPrior;
  o.windows_per_image = 40;
  o.body_fraction = 1.0;
  const auto drawn = adaptation_windows(image, body, {8, 8, 8}, o, 7);
  ASSERT_EQ(drawn.size(), 40u);
  for (const auto& w : drawn) {
    ASSERT_TRUE(w.i >= 0 && w.i + 8 <= 30 && w.j >= 0 && w.j + 8 <= 24 && w.k >= 0 && w.k + 8 <= 20);
    // Centred on a body voxel, so every window holds body.
    EXPECT_TRUE(body.slice(0, w.k, w.k + 8).slice(1, w.j, w.j + 8).slice(2, w.i, w.i + 8).any().item<bool>());
  }
  const auto again = adaptation_windows(image, body, {8, 8, 8}, o, 7);
  const auto other = adaptation_windows(image, body, {8, 8, 8}, o, 8);
  bool same = true, differ = false;
  for (std::size_t n = 0; n < drawn.size(); ++n) {
    same = same && drawn[n].i == again[n].i && drawn[n].j == again[n].j && drawn[n].k == again[n].k;
    differ = differ || drawn[n].i != other[n].i || drawn[n].j != other[n].j || drawn[n].k != other[n].k;
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differ);
  // No body share: anywhere, and then some window misses the small body.
  o.body_fraction = 0.0;
  bool some_empty = false;
  for (const auto& w : adaptation_windows(image, body, {8, 8, 8}, o, 7)) {
    some_empty = some_empty ||
                 !body.slice(0, w.k, w.k + 8).slice(1, w.j, w.j + 8).slice(2, w.i, w.i + 8).any().item<bool>();
  }
  EXPECT_TRUE(some_empty);
  // The prior weight N / (N + n).
  o.prior_strength = 16.0;
  EXPECT_DOUBLE_EQ(adaptation_estimate(o, 48).prior_weight, 0.25);
  EXPECT_EQ(adaptation_estimate(o, 48).kind, models::AdaptationEstimate::Kind::kBatchAverage);
  o.method = AdaptationMethod::kAdaBN;
  EXPECT_DOUBLE_EQ(adaptation_estimate(o, 48).prior_weight, 0.0);
  EXPECT_EQ(adaptation_estimate(o, 48).kind, models::AdaptationEstimate::Kind::kPooled);
}

// Prior adaptation by hand on a depth-1 model: the first batch norm sees
// conv(window) for the drawn windows, batch by batch; its new statistics are
// w * source + (1 - w) * the averages of the batch means and unbiased batch
// variances, w = N / (N + n).
TEST(AdaptDomain, PriorMixesTheSourceWithPerBatchAveragesOverTheDrawnWindows) {
  test::TinyBundleSpec spec;
  spec.depth = 1;
  models::Bundle bundle = make_tiny_bundle(spec);
  models::UNet3d& model = bundle.model;
  torch::manual_seed(5);
  const torch::Tensor image = torch::rand({1, 14, 12, 16}) * 30 + 2;
  const auto p = state_of(model);
  AdaptationOptions o;
  o.method = AdaptationMethod::kPrior;
  o.windows_per_image = 6;
  o.windows_per_batch = 2;
  o.prior_strength = 2.0;
  o.seed = 17;
  adapt_domain(model, 1, {image}, {8, 8, 8}, o);

  const auto windows = adaptation_windows(image, body_mask(image).mask, {8, 8, 8}, o, o.seed);
  ASSERT_EQ(windows.size(), 6u);
  torch::Tensor mean_sum = torch::zeros({4}, torch::kDouble), var_sum = torch::zeros({4}, torch::kDouble);
  for (std::size_t first = 0; first < 6; first += 2) {
    std::vector<torch::Tensor> batch;
    for (std::size_t w = first; w < first + 2; ++w) {
      const auto& win = windows[w];
      batch.push_back(image.slice(1, win.k, win.k + 8).slice(2, win.j, win.j + 8).slice(3, win.i, win.i + 8));
    }
    const torch::Tensor y = at::conv3d(torch::stack(batch).to(torch::kDouble),
                                       p.at("encoder0a.conv.weight").to(torch::kDouble),
                                       p.at("encoder0a.conv.bias").to(torch::kDouble), {1, 1, 1}, {1, 1, 1});
    const torch::Tensor rows = y.transpose(0, 1).reshape({4, -1});
    mean_sum += rows.mean(1);
    var_sum += rows.var(1, /*unbiased=*/true);
  }
  const double w = 2.0 / (2.0 + 6.0);
  const torch::Tensor expected_mean = w * p.at("encoder0a.norm.running_mean")[1].to(torch::kDouble) + (1 - w) * mean_sum / 3;
  const torch::Tensor expected_var = w * p.at("encoder0a.norm.running_var")[1].to(torch::kDouble) + (1 - w) * var_sum / 3;
  const auto buffers = model->named_buffers();
  EXPECT_TRUE(torch::allclose(buffers["encoder0a.norm.running_mean"][1].to(torch::kDouble), expected_mean, 1e-4, 1e-5))
      << buffers["encoder0a.norm.running_mean"][1] << expected_mean;
  EXPECT_TRUE(torch::allclose(buffers["encoder0a.norm.running_var"][1].to(torch::kDouble), expected_var, 1e-4, 1e-5))
      << buffers["encoder0a.norm.running_var"][1] << expected_var;
  EXPECT_EQ(buffers["encoder0a.norm.num_batches_tracked"][1].item<std::int64_t>(), 3);
  EXPECT_TRUE(torch::equal(buffers["encoder0a.norm.running_mean"][0], p.at("encoder0a.norm.running_mean")[0]));
}

double mean_entropy(models::UNet3d& model, std::int64_t domain, const torch::Tensor& batch) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor log_p = at::log_softmax(model->forward(batch, torch::full({batch.size(0)}, domain, torch::kLong)), 1);
  return (-(log_p.exp() * log_p).sum(1)).mean().item<double>();
}

// TENT: only the batch-norm scale/shift move, and the entropy of the
// windows it learned on goes down against prior adaptation alone.
TEST(AdaptDomain, TentLowersTheEntropyThroughTheScaleAndShiftOnly) {
  models::Bundle prior_bundle = make_tiny_bundle();
  models::Bundle tent_bundle = make_tiny_bundle();
  torch::manual_seed(6);
  const torch::Tensor image = torch::rand({1, 8, 8, 8}) * 20 + 5;  // one window: all body
  AdaptationOptions o;
  o.method = AdaptationMethod::kPrior;
  o.windows_per_image = 4;
  o.body_fraction = 1.0;
  adapt_domain(prior_bundle.model, 1, {image}, {8, 8, 8}, o);
  const auto before = state_of(tent_bundle.model);
  o.method = AdaptationMethod::kTent;
  o.tent_steps = 20;
  o.tent_learning_rate = 0.02;
  adapt_domain(tent_bundle.model, 1, {image}, {8, 8, 8}, o);
  const auto after = state_of(tent_bundle.model);
  const auto prior = state_of(prior_bundle.model);
  bool affine_moved = false;
  for (const auto& [name, tensor] : after) {
    const bool affine = name.find(".norm.weight") != std::string::npos || name.find(".norm.bias") != std::string::npos;
    if (affine) {
      affine_moved = affine_moved || !torch::equal(tensor, before.at(name));
    } else if (name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos) {
      EXPECT_TRUE(torch::equal(tensor, prior.at(name))) << name << ": TENT starts from prior's statistics";
    } else {
      EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name;
    }
  }
  EXPECT_TRUE(affine_moved);
  for (const auto& parameter : tent_bundle.model->parameters()) EXPECT_FALSE(parameter.grad().defined());
  const torch::Tensor batch = image.unsqueeze(0);
  EXPECT_LT(mean_entropy(tent_bundle.model, 1, batch), mean_entropy(prior_bundle.model, 1, batch) - 1e-3);
  // A bundle's domains share the scale/shift: TENT cannot add a domain.
  EXPECT_THROW(add_adapted_domain(tent_bundle, "new", {image}, o), ConfigError);
  EXPECT_EQ(tent_bundle.info.domains.size(), 2u);
}

TEST(AdaptationMethod, NamesRoundTripAndUnknownIsRefused) {
  for (const auto m : {AdaptationMethod::kAdaBN, AdaptationMethod::kPrior, AdaptationMethod::kTent}) {
    EXPECT_EQ(parse_adaptation_method(to_string(m)), m);
  }
  EXPECT_THROW(parse_adaptation_method("bn"), ConfigError);
  using M = AdaptationMethod;
  EXPECT_EQ(parse_adaptation_methods("prior"), std::vector<M>{M::kPrior});
  EXPECT_EQ(parse_adaptation_methods("prior,adabn"), (std::vector<M>{M::kPrior, M::kAdaBN}));
  EXPECT_EQ(to_string(std::vector<M>{M::kAdaBN, M::kTent}), "adabn,tent");
  for (const char* bad : {"", "prior,", ",prior", "prior,prior", "prior,bn"}) {
    EXPECT_THROW(parse_adaptation_methods(bad), ConfigError) << "'" << bad << "'";
  }
}

// The check against hand-known values: logits of zeros give a uniform
// softmax, entropy exactly 1; a network compared with itself agrees
// everywhere and gains nothing, so nothing is kept; the agreement is the
// share of body voxels (all but the image's minimum here) whose argmax
// matches.
TEST(AdaptationCheck, MeasuresEntropyAndAgreementAndKeepsOnlyAGain) {
  models::Bundle bundle = make_tiny_bundle();
  torch::manual_seed(4);
  const torch::Tensor image = torch::rand({1, 10, 9, 12}) * 20 + 5;
  const Predictor network = folded_network_predictor(bundle.model, 0, false);
  const AdaptationCheck same = check_adaptation(network, network, image, {8, 8, 8});
  EXPECT_DOUBLE_EQ(same.agreement, 1.0);
  EXPECT_DOUBLE_EQ(same.entropy_source, same.entropy_adapted);
  EXPECT_GT(same.entropy_source, 0.0);
  EXPECT_LT(same.entropy_source, 1.0);
  EXPECT_FALSE(same.keep);
  EXPECT_NE(same.reason.find("not kept"), std::string::npos);

  // Flat logits: class 0 wins every argmax (ties go to the first index).
  const Predictor flat = [](const at::Tensor& x) { return at::zeros({x.size(0), 2, x.size(2), x.size(3), x.size(4)}); };
  // Class 1 where the input is above 15, else class 0, with a margin of 3.
  const Predictor sure = [](const at::Tensor& x) {
    const at::Tensor up = (x > 15.0f).to(at::kFloat) * 6.0f - 3.0f;
    return at::cat({-up, up}, 1);
  };
  const AdaptationCheck worse = check_adaptation(sure, flat, image, {8, 8, 8});
  EXPECT_NEAR(worse.entropy_adapted, 1.0, 1e-6);
  const double p = 1.0 / (1.0 + std::exp(-6.0));  // softmax of (3, -3)
  EXPECT_NEAR(worse.entropy_source, -(p * std::log(p) + (1 - p) * std::log(1 - p)) / std::log(2.0), 1e-5);
  EXPECT_FALSE(worse.keep);
  const AdaptationCheck better = check_adaptation(flat, sure, image, {8, 8, 8});
  EXPECT_NEAR(better.entropy_source, 1.0, 1e-6);
  EXPECT_TRUE(better.keep);
  EXPECT_EQ(better.reason.rfind("kept", 0), 0u) << better.reason;
  // Agreement: the share of body voxels of the windows at or below 15.
  EXPECT_GT(better.agreement, 0.1);
  EXPECT_LT(better.agreement, 0.9);
  EXPECT_DOUBLE_EQ(better.agreement, worse.agreement);
}

// Several candidates: the lowest entropy wins whatever its place, the first
// on ties, and it is kept only if it beats the source; every candidate's
// entropy and agreement is reported as a one-candidate check measures it.
TEST(AdaptationCheck, ChoosesTheCandidateWithTheLowestEntropy) {
  torch::manual_seed(4);
  const torch::Tensor image = torch::rand({1, 10, 9, 12}) * 20 + 5;
  const Predictor flat = [](const at::Tensor& x) { return at::zeros({x.size(0), 2, x.size(2), x.size(3), x.size(4)}); };
  const auto margin = [](float m) {
    return Predictor([m](const at::Tensor& x) {
      const at::Tensor up = (x > 15.0f).to(at::kFloat) * (2 * m) - m;
      return at::cat({-up, up}, 1);
    });
  };
  const AdaptationCheck three =
      check_adaptations(flat, {{"weak", margin(1)}, {"strong", margin(3)}, {"flat", flat}}, image, {8, 8, 8});
  ASSERT_EQ(three.candidates.size(), 3u);
  EXPECT_EQ(three.chosen, 1u);
  EXPECT_TRUE(three.keep);
  EXPECT_NE(three.reason.find("strong, the lowest entropy of 2 of 3 candidates that pass"), std::string::npos) << three.reason;
  for (std::size_t c = 0; c < 3; ++c) {
    const Predictor& p = c == 0 ? margin(1) : c == 1 ? margin(3) : flat;
    const AdaptationCheck one = check_adaptation(flat, p, image, {8, 8, 8});
    EXPECT_NEAR(three.candidates[c].entropy, one.entropy_adapted, 1e-9) << c;
    EXPECT_NEAR(three.candidates[c].agreement, one.agreement, 1e-12) << c;
  }
  EXPECT_NEAR(three.entropy_adapted, three.candidates[1].entropy, 1e-12);
  // Nothing beats a confident source: the best candidate is named, not kept.
  const AdaptationCheck none = check_adaptations(margin(3), {{"flat", flat}, {"weak", margin(1)}}, image, {8, 8, 8});
  EXPECT_EQ(none.chosen, 1u);
  EXPECT_FALSE(none.keep);
  // Ties: the first.
  const AdaptationCheck tie = check_adaptations(flat, {{"a", margin(2)}, {"b", margin(2)}}, image, {8, 8, 8});
  EXPECT_EQ(tie.chosen, 0u);
}

// The minimum change: a candidate that is more confident but relabels few
// voxels is not kept (the inverted-MRI case of docs/normalization.md); one
// that relabels enough is, even when the other has the lower entropy; with
// min_change 0 entropy alone decides, as before.
TEST(AdaptationCheck, KeepsOnlyACandidateThatRelabelsEnoughVoxels) {
  torch::manual_seed(4);
  const torch::Tensor image = torch::rand({1, 10, 9, 12}) * 20 + 5;  // uniform in [5, 25]
  const auto threshold = [](float t, float m) {
    return Predictor([t, m](const at::Tensor& x) {
      const at::Tensor up = (x > t).to(at::kFloat) * (2 * m) - m;
      return at::cat({-up, up}, 1);
    });
  };
  const Predictor source = threshold(15, 1);
  const Predictor small = threshold(14, 3);  // relabels (14, 15]: ~5 % of the voxels, very sure
  const Predictor large = threshold(9, 2);   // relabels (9, 15]: ~30 %, less sure
  AdaptationCheckOptions o;
  ASSERT_DOUBLE_EQ(o.min_change, 0.2);
  const AdaptationCheck only_small = check_adaptation(source, small, image, {8, 8, 8}, o);
  EXPECT_NEAR(1.0 - only_small.agreement, 0.05, 0.02);
  EXPECT_LT(only_small.entropy_adapted, only_small.entropy_source);
  EXPECT_FALSE(only_small.keep);
  EXPECT_NE(only_small.reason.find("relabel only"), std::string::npos) << only_small.reason;

  const AdaptationCheck both = check_adaptations(source, {{"small", small}, {"large", large}}, image, {8, 8, 8}, o);
  EXPECT_LT(both.candidates[0].entropy, both.candidates[1].entropy);
  EXPECT_NEAR(1.0 - both.candidates[1].agreement, 0.3, 0.03);
  EXPECT_TRUE(both.keep);
  EXPECT_EQ(both.chosen, 1u);
  EXPECT_NE(both.reason.find("large"), std::string::npos) << both.reason;

  o.min_change = 0.0;
  const AdaptationCheck entropy_alone = check_adaptations(source, {{"small", small}, {"large", large}}, image, {8, 8, 8}, o);
  EXPECT_TRUE(entropy_alone.keep);
  EXPECT_EQ(entropy_alone.chosen, 0u);
}

}  // namespace
}  // namespace medseg::pipeline
