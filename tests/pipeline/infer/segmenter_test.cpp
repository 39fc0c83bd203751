// Segmenter: geometry lands exactly on the input grid, --domain auto adapts a
// copy and leaves the loaded model alone, bad domains are refused.
#include "pipeline/infer/segmenter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <utility>

#include "core/error.h"
#include "tests/pipeline/common/tiny_bundle.h"
#include "tests/pipeline/infer/infer_helpers.h"

namespace medseg::pipeline {
namespace {
using test::blob_volume;
using test::make_tiny_bundle;
using test::oblique_direction;
using test_infer::expect_same_geometry;
using test_infer::fp32;
using test_infer::state_of;

TEST(Segmenter, LabelsAndProbabilitiesLandExactlyOnAnObliqueInputGrid) {
  models::Bundle bundle = make_tiny_bundle();
  const Segmenter segmenter(bundle);
  const Volume input = blob_volume({13, 11, 9}, {1.1, 0.9, 1.7}, {-12.5, 30.25, 7.0}, oblique_direction());
  SegmentOptions o = fp32();
  o.probabilities = true;
  std::vector<double> fractions;
  o.progress = [&](double f) {
    fractions.push_back(f);
    return true;
  };
  const Segmentation s = segmenter.segment({input}, o);
  expect_same_geometry(s.labels.geometry, input.geometry);  // exactly
  EXPECT_EQ(s.labels.data.sizes(), input.data.sizes());
  EXPECT_EQ(s.labels.data.scalar_type(), torch::kShort);
  EXPECT_TRUE(((s.labels.data == 0) | (s.labels.data == 1)).all().item<bool>());
  ASSERT_TRUE(s.probabilities.has_value());
  expect_same_geometry(s.probabilities->geometry, input.geometry);
  EXPECT_EQ(s.probabilities->data.sizes(), (torch::IntArrayRef{2, 9, 11, 13}));
  EXPECT_TRUE(torch::allclose(s.probabilities->data.sum(0), torch::ones({9, 11, 13}), 1e-4, 1e-4));
  ASSERT_EQ(s.label_statistics.size(), 2u);
  EXPECT_EQ(s.label_statistics[0].voxels + s.label_statistics[1].voxels, 13 * 11 * 9);
  EXPECT_EQ(s.label_statistics[1].voxels, (s.labels.data == 1).sum().item<std::int64_t>());
  EXPECT_NEAR(s.label_statistics[1].volume_ml, s.label_statistics[1].voxels * 1.1 * 0.9 * 1.7 / 1000.0, 1e-12);
  EXPECT_EQ(s.domain, "scanner_a");  // the first domain by default
  ASSERT_FALSE(fractions.empty());
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
  EXPECT_GT(s.timings.total, 0.0);
  EXPECT_GT(s.timings.network, 0.0);
  EXPECT_GE(s.timings.blending, 0.0);
  EXPECT_LE(s.timings.network + s.timings.blending + s.timings.preprocess + s.timings.restore, s.timings.total + 1e-6);
}

TEST(Segmenter, CancelThrowsCancelled) {
  const Segmenter segmenter(make_tiny_bundle());
  SegmentOptions o = fp32();
  o.progress = [](double f) { return f < 0.5; };
  EXPECT_THROW(segmenter.segment({blob_volume({20, 20, 20}, {1, 1, 1}, {0, 0, 0}, oblique_direction())}, o),
               Cancelled);
}

TEST(Segmenter, DomainAutoAdaptsACopyAndNamedDomainsDiffer) {
  models::Bundle bundle = make_tiny_bundle();
  const auto before = state_of(bundle.model);
  const Segmenter segmenter(bundle);
  // A gain- and offset-shifted scan: the stored statistics do not fit it.
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "scanner_a";
  const Segmentation a = segmenter.segment({input}, o);
  o.domain = "scanner_b";
  const Segmentation b = segmenter.segment({input}, o);
  o.domain = "auto";
  o.adapt_methods = {AdaptationMethod::kPrior};
  o.adapt_check = false;  // the adaptation itself (the check: below)
  const Segmentation adapted = segmenter.segment({input}, o);
  EXPECT_EQ(adapted.domain, "auto");
  EXPECT_FALSE(adapted.adaptation_check.has_value());
  EXPECT_GT(adapted.timings.adaptation, 0.0);
  EXPECT_GT((a.probabilities->data - b.probabilities->data).abs().max().item<float>(), 1e-3);
  EXPECT_GT((a.probabilities->data - adapted.probabilities->data).abs().max().item<float>(), 1e-3);
  // The loaded model is untouched: same tensors, same number of domains.
  const auto after = state_of(bundle.model);
  ASSERT_EQ(before.size(), after.size());
  for (const auto& [name, tensor] : before) EXPECT_TRUE(torch::equal(tensor, after.at(name))) << name;
  EXPECT_EQ(bundle.model->options.norm().num_domains(), 2);
  // Repeatable: a second auto run gives the same answer.
  const Segmentation again = segmenter.segment({input}, o);
  EXPECT_TRUE(torch::equal(adapted.labels.data, again.labels.data));
}

// With the check on, the labels are those of the adapted statistics when it
// keeps them and those of the first domain when it does not; each method
// gives its own adapted result.
TEST(Segmenter, DomainAutoFollowsTheChecksDecision) {
  const Segmenter segmenter(make_tiny_bundle());
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  SegmentOptions o = fp32();
  o.probabilities = true;
  const Segmentation first_domain = segmenter.segment({input}, o);
  o.domain = "auto";
  std::vector<at::Tensor> unchecked;
  for (const auto method : {AdaptationMethod::kAdaBN, AdaptationMethod::kPrior, AdaptationMethod::kTent}) {
    SCOPED_TRACE(to_string(method));
    o.adapt_methods = {method};
    o.adapt_check = false;
    const Segmentation adapted = segmenter.segment({input}, o);
    o.adapt_check = true;
    // The default minimum change, and entropy alone.
    for (const double min_change : {AdaptationCheckOptions{}.min_change, 0.0}) {
      o.adapt_min_change = min_change;
      const Segmentation checked = segmenter.segment({input}, o);
      ASSERT_TRUE(checked.adaptation_check.has_value());
      const auto& c = *checked.adaptation_check;
      EXPECT_EQ(c.keep, c.entropy_adapted < c.entropy_source && 1.0 - c.agreement >= min_change) << min_change;
      const Segmentation& expected = c.keep ? adapted : first_domain;
      EXPECT_EQ(checked.domain, c.keep ? "auto" : "scanner_a");
      EXPECT_TRUE(torch::equal(checked.probabilities->data, expected.probabilities->data));
    }
    o.adapt_min_change.reset();
    unchecked.push_back(adapted.probabilities->data);
  }
  EXPECT_FALSE(torch::equal(unchecked[0], unchecked[1]));
  EXPECT_FALSE(torch::equal(unchecked[1], unchecked[2]));
}

// The check's minimum change: the command line's if given, else the one the
// model carries (model.yaml adaptation.min_change), else medseg's default;
// the check records which.
TEST(Segmenter, TheModelsMinimumChangeAppliesUnlessTheOptionGivesOne) {
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "auto";
  o.adapt_methods = {AdaptationMethod::kAdaBN};
  const Segmenter plain(make_tiny_bundle());
  models::Bundle carrying = make_tiny_bundle();
  carrying.info.adapt_min_change = 0.0;
  const Segmenter model_says_zero(carrying);
  carrying.info.adapt_min_change = 1.0;
  const Segmenter model_says_all(carrying);

  const auto decided = [&](const Segmenter& s, std::optional<double> option, double min_change,
                           const std::string& source) {
    SCOPED_TRACE(source + " " + std::to_string(min_change));
    o.adapt_min_change = option;
    EXPECT_EQ(s.adapt_min_change(o), std::make_pair(min_change, source));
    Segmentation r = s.segment({input}, o);
    EXPECT_TRUE(r.adaptation_check.has_value());
    if (!r.adaptation_check) return r;
    const AdaptationCheck& c = *r.adaptation_check;
    EXPECT_EQ(c.min_change, min_change);
    EXPECT_EQ(c.min_change_source, source);
    EXPECT_EQ(c.keep, c.entropy_adapted < c.entropy_source && 1.0 - c.agreement >= min_change);
    return r;
  };
  decided(plain, std::nullopt, AdaptationCheckOptions{}.min_change, "default");
  const Segmentation zero_by_model = decided(model_says_zero, std::nullopt, 0.0, "model");
  const Segmentation zero_by_option = decided(plain, 0.0, 0.0, "option");
  EXPECT_TRUE(torch::equal(zero_by_model.probabilities->data, zero_by_option.probabilities->data));
  const Segmentation all_by_model = decided(model_says_all, std::nullopt, 1.0, "model");
  EXPECT_FALSE(all_by_model.adaptation_check->keep);  // nothing relabels every voxel
  decided(model_says_all, 0.0, 0.0, "option");
  decided(model_says_zero, 1.0, 1.0, "option");

  o.adapt_min_change = 1.5;
  EXPECT_THROW(plain.check(o), ConfigError);
}

// The methods tried and whether the check decides: the command line's if
// given, else the model's (model.yaml adaptation.methods / .check), else
// medseg's default (prior,adabn, checked). A model's policy gives exactly
// the labels the same options give on the command line.
TEST(Segmenter, TheModelsMethodsAndCheckApplyUnlessTheOptionsGiveThem) {
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  const Segmenter plain(make_tiny_bundle());
  models::Bundle carrying = make_tiny_bundle();
  carrying.info.adapt_methods = {"tent"};
  carrying.info.adapt_check = false;
  const Segmenter model_says_tent_unchecked(carrying);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "auto";

  using Methods = std::vector<AdaptationMethod>;
  EXPECT_EQ(plain.adapt_methods(o), std::make_pair(Methods{AdaptationMethod::kPrior, AdaptationMethod::kAdaBN},
                                                   std::string("default")));
  EXPECT_EQ(plain.adapt_check(o), std::make_pair(true, std::string("default")));
  EXPECT_EQ(model_says_tent_unchecked.adapt_methods(o), std::make_pair(Methods{AdaptationMethod::kTent},
                                                                       std::string("model")));
  EXPECT_EQ(model_says_tent_unchecked.adapt_check(o), std::make_pair(false, std::string("model")));

  const Segmentation by_model = model_says_tent_unchecked.segment({input}, o);
  EXPECT_EQ(by_model.domain, "auto");
  EXPECT_FALSE(by_model.adaptation_check.has_value());  // one method, unchecked: nothing to score
  SegmentOptions explicit_options = o;
  explicit_options.adapt_methods = {AdaptationMethod::kTent};
  explicit_options.adapt_check = false;
  EXPECT_EQ(model_says_tent_unchecked.adapt_methods(explicit_options).second, "option");
  EXPECT_EQ(model_says_tent_unchecked.adapt_check(explicit_options).second, "option");
  const Segmentation by_option = plain.segment({input}, explicit_options);
  EXPECT_TRUE(torch::equal(by_model.probabilities->data, by_option.probabilities->data));
  // tent differs from the default's candidates, so the equality above is the
  // model's policy at work, not a coincidence.
  SegmentOptions prior_only = explicit_options;
  prior_only.adapt_methods = {AdaptationMethod::kPrior};
  EXPECT_FALSE(torch::equal(by_model.probabilities->data, plain.segment({input}, prior_only).probabilities->data));

  // The options override the model's policy: checked, with two methods.
  o.adapt_methods = {AdaptationMethod::kPrior, AdaptationMethod::kAdaBN};
  o.adapt_check = true;
  const Segmentation overridden = model_says_tent_unchecked.segment({input}, o);
  ASSERT_TRUE(overridden.adaptation_check.has_value());
  ASSERT_EQ(overridden.adaptation_check->candidates.size(), 2u);
  EXPECT_EQ(overridden.adaptation_check->candidates[0].name, "prior");
  EXPECT_EQ(overridden.adaptation_check->min_change_source, "default");
  // Two methods unchecked by the model: chosen by entropy, and the report's
  // reason names the model's setting.
  o.adapt_methods.clear();
  o.adapt_check.reset();
  carrying.info.adapt_methods = {"prior", "adabn"};
  const Segmentation two = Segmenter(carrying).segment({input}, o);
  ASSERT_TRUE(two.adaptation_check.has_value());
  EXPECT_TRUE(two.adaptation_check->keep);
  EXPECT_NE(two.adaptation_check->reason.find("the model's adaptation.check: false"), std::string::npos)
      << two.adaptation_check->reason;

  // A method name the model cannot have is refused when the bundle is used.
  carrying.info.adapt_methods = {"prior", "bn"};
  try {
    Segmenter bad(carrying);
    ADD_FAILURE() << "a bundle with an unknown adaptation method was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("adaptation.methods"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'bn'"), std::string::npos) << e.what();
  }
}

// prior's windows per scan and the weight of the model's statistics: the
// option's, else the model's (model.yaml adaptation.prior_windows /
// prior_strength), else AdaptationOptions{}; a model's values give exactly
// the labels the same options give.
TEST(Segmenter, TheModelsPriorWindowsAndStrengthApplyUnlessTheOptionsGiveThem) {
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  const Segmenter plain(make_tiny_bundle());
  models::Bundle carrying = make_tiny_bundle();
  carrying.info.adapt_prior_windows = 6;
  carrying.info.adapt_prior_strength = 0.0;
  const Segmenter model_says(carrying);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "auto";
  o.adapt_methods = {AdaptationMethod::kPrior};
  o.adapt_check = false;

  EXPECT_EQ(plain.adapt_prior_windows(o), AdaptationOptions{}.windows_per_image);
  EXPECT_EQ(plain.adapt_prior_strength(o), AdaptationOptions{}.prior_strength);
  EXPECT_EQ(model_says.adapt_prior_windows(o), 6);
  EXPECT_EQ(model_says.adapt_prior_strength(o), 0.0);
  const Segmentation by_model = model_says.segment({input}, o);
  SegmentOptions given = o;
  given.adapt_prior_windows = 6;
  given.adapt_prior_strength = 0.0;
  const Segmentation by_option = plain.segment({input}, given);
  EXPECT_TRUE(torch::equal(by_model.probabilities->data, by_option.probabilities->data));
  const Segmentation by_default = plain.segment({input}, o);
  EXPECT_FALSE(torch::equal(by_model.probabilities->data, by_default.probabilities->data));
  // The options win over the model's.
  given.adapt_prior_windows = 16;
  given.adapt_prior_strength = 16.0;
  EXPECT_EQ(model_says.adapt_prior_windows(given), 16);
  EXPECT_EQ(model_says.adapt_prior_strength(given), 16.0);
  EXPECT_TRUE(torch::equal(model_says.segment({input}, given).probabilities->data, by_default.probabilities->data));

  given.adapt_prior_windows = 1;
  EXPECT_THROW(plain.check(given), ConfigError);
  given.adapt_prior_windows.reset();
  given.adapt_prior_strength = -1.0;
  EXPECT_THROW(plain.check(given), ConfigError);
  given.adapt_prior_strength = std::nan("");
  EXPECT_THROW(plain.check(given), ConfigError);
}

// Several methods: each adapts its own copy, the check keeps the one it
// scores lowest, and the labels are exactly those of that method alone.
TEST(Segmenter, DomainAutoWithSeveralMethodsUsesTheChecksChoice) {
  const Segmenter segmenter(make_tiny_bundle());
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  SegmentOptions o = fp32();
  o.probabilities = true;
  o.domain = "auto";
  const Segmentation first_domain = [&] {
    SegmentOptions f = o;
    f.domain.clear();
    return segmenter.segment({input}, f);
  }();
  const std::vector<AdaptationMethod> methods{AdaptationMethod::kPrior, AdaptationMethod::kAdaBN};
  std::vector<Segmentation> alone;
  for (const auto m : methods) {
    o.adapt_methods = {m};
    o.adapt_check = false;
    alone.push_back(segmenter.segment({input}, o));
  }
  o.adapt_methods = methods;
  o.adapt_check = true;
  // Entropy alone: the minimum change is tested above and in AdaptationCheck.
  o.adapt_min_change = 0.0;
  const Segmentation both = segmenter.segment({input}, o);
  ASSERT_TRUE(both.adaptation_check.has_value());
  const AdaptationCheck& c = *both.adaptation_check;
  ASSERT_EQ(c.candidates.size(), 2u);
  EXPECT_EQ(c.candidates[0].name, "prior");
  EXPECT_EQ(c.candidates[1].name, "adabn");
  EXPECT_NE(c.candidates[0].entropy, c.candidates[1].entropy);
  const std::size_t lowest = c.candidates[1].entropy < c.candidates[0].entropy ? 1 : 0;
  EXPECT_EQ(c.chosen, lowest);
  EXPECT_EQ(c.keep, c.candidates[lowest].entropy < c.entropy_source);
  const Segmentation& expected = c.keep ? alone[lowest] : first_domain;
  EXPECT_TRUE(torch::equal(both.probabilities->data, expected.probabilities->data));
  // Without the check the lowest-entropy method is used, whatever the
  // source's entropy.
  o.adapt_check = false;
  o.adapt_min_change = 0.5;  // ignored without the check
  const Segmentation unchecked = segmenter.segment({input}, o);
  ASSERT_TRUE(unchecked.adaptation_check.has_value());
  EXPECT_TRUE(unchecked.adaptation_check->keep);
  EXPECT_EQ(unchecked.adaptation_check->chosen, lowest);
  EXPECT_EQ(unchecked.domain, "auto");
  EXPECT_TRUE(torch::equal(unchecked.probabilities->data, alone[lowest].probabilities->data));
}

// The fast path (folded network, empty windows skipped) against the
// reference (the trained UNet3d on every window), for a named domain and
// for --domain auto, where folding must use the adapted statistics.
TEST(Segmenter, FoldedNetworkMatchesTheReferenceForNamedAndAdaptedDomains) {
  const Segmenter segmenter(make_tiny_bundle());
  const Volume input = blob_volume({12, 12, 12}, {1.5, 1.5, 1.5}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 6.0, 4.0);
  for (const char* domain : {"scanner_b", "auto"}) {
    SegmentOptions o = fp32();
    o.probabilities = true;
    o.domain = domain;
    o.adapt_check = false;
    const Segmentation fast = segmenter.segment({input}, o);
    o.reference_network = true;
    o.skip_empty_windows = false;
    const Segmentation reference = segmenter.segment({input}, o);
    EXPECT_TRUE(torch::equal(fast.labels.data, reference.labels.data)) << domain;
    EXPECT_TRUE(torch::allclose(fast.probabilities->data, reference.probabilities->data, 1e-4, 1e-5)) << domain;
  }
}

// A small body in a corner of a large field of air (-1000, not cropped: it
// is not zero): most windows hold no body and are not run.
TEST(Segmenter, EmptyMarginWindowsAreSkippedAndTheLabelsStayTheSame) {
  const Segmenter segmenter(make_tiny_bundle());
  Volume input = blob_volume({36, 36, 36}, {1.0, 1.0, 1.0}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  const Volume body = blob_volume({12, 12, 12}, {1.0, 1.0, 1.0}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 40.0);
  input.data.fill_(-1000.0f);
  input.data.slice(0, 1, 13).slice(1, 2, 14).slice(2, 3, 15).copy_(body.data);
  SegmentOptions o = fp32();
  o.probabilities = true;
  const Segmentation skipped = segmenter.segment({input}, o);
  o.skip_empty_windows = false;
  const Segmentation all = segmenter.segment({input}, o);
  EXPECT_EQ(all.windows.skipped, 0);
  EXPECT_EQ(skipped.windows.windows, all.windows.windows);
  EXPECT_GT(skipped.windows.skipped, skipped.windows.windows / 2);
  EXPECT_TRUE(torch::equal(skipped.labels.data, all.labels.data));
  EXPECT_TRUE(torch::allclose(skipped.probabilities->data, all.probabilities->data, 1e-5, 1e-6));
  // Both labels occur, so the equality above says something.
  EXPECT_GT(skipped.label_statistics[1].voxels, 0);
  EXPECT_GT(skipped.label_statistics[0].voxels, 0);
}

TEST(Segmenter, RefusesUnknownDomainAndAutoWithoutBatchNorm) {
  const Segmenter segmenter(make_tiny_bundle());
  SegmentOptions o = fp32();
  o.domain = "scanner_z";
  EXPECT_THROW(segmenter.check(o), ConfigError);
  test::TinyBundleSpec spec;
  spec.norm = models::NormKind::kInstance;
  const Segmenter instance(make_tiny_bundle(spec));
  o.domain = "auto";
  try {
    instance.check(o);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("instance"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medseg::pipeline
