// Why plain AdaBN hurts (issue 18 item 1, docs/normalization.md): adapts a
// bundled model to one of its own, unshifted samples with each combination
// of (a) the windows the statistics come from — every sliding window vs
// windows drawn like training patches — and (b) the estimator — pooled
// moments vs the average of per-batch moments (what training's running
// statistics estimate) — and prints, for each, how far the adapted
// statistics lie from the trained ones and the Dice it then gets.
//
//   medseg_bench_adaptation_population BUNDLE IMAGE LABELS [SEED]
//
// No scanner changed, so an adaptation that reproduces the training
// population should land close to the trained statistics and Dice.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "models/bundle.h"
#include "models/domain_batch_norm.h"
#include "pipeline/eval/metrics.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/body_mask.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"

using namespace medseg;  // NOLINT(google-build-using-namespace)

namespace {

struct Distance {
  double mean_shift = 0.0;  // mean over layers and channels of |mu - mu0| / sigma0
  double log_var = 0.0;     // mean of |log(var / var0)|
};

Distance distance(models::UNet3d& model, std::int64_t domain) {
  Distance d;
  int layers = 0;
  for (const auto& m : model->modules(false)) {
    auto* bn = m->as<models::DomainBatchNormImpl>();
    if (bn == nullptr) continue;
    const auto c = bn->options.num_features();
    const at::Tensor mean = bn->running_mean.view({-1, c}).to(at::kDouble);
    const at::Tensor var = bn->running_var.view({-1, c}).to(at::kDouble);
    d.mean_shift += ((mean[domain] - mean[0]).abs() / var[0].sqrt()).mean().item<double>();
    d.log_var += (var[domain] / var[0]).log().abs().mean().item<double>();
    ++layers;
  }
  d.mean_shift /= layers;
  d.log_var /= layers;
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BUNDLE IMAGE LABELS [SEED]\n", argv[0]);
    return 2;
  }
  const std::uint64_t seed = argc > 4 ? std::stoull(argv[4]) : 0;
  const pipeline::Volume image = pipeline::read_volume(argv[2]);
  const pipeline::Volume labels = pipeline::read_volume(argv[3]);
  const models::Bundle original = models::load_bundle(argv[1]);
  const pipeline::Segmenter plain(original);
  const at::Tensor pre = pipeline::Preprocessor(plain.plan())({image}).image.data;
  const auto patch = original.info.patch_size;
  const auto classes = static_cast<std::int64_t>(original.info.labels.size());

  auto dice_text = [&](const pipeline::Segmentation& s) {
    const auto dice = pipeline::dice_per_label(s.labels.data, labels.data.to(at::kShort), classes);
    std::string text;
    for (double v : dice) text += (text.empty() ? "" : " ") + std::to_string(v).substr(0, 5);
    return text;
  };
  pipeline::SegmentOptions so;
  so.precision = models::Precision::kFp32;
  std::printf("%-34s %-10s %-10s %s\n", "statistics", "|dmu|/sd", "|log var|", "Dice per label");
  std::printf("%-34s %-10s %-10s %s\n", "trained (no adaptation)", "0", "0", dice_text(plain.segment({image}, so)).c_str());

  struct Variant {
    const char* name;
    pipeline::AdaptationMethod windows;  // kAdaBN = every sliding window, kPrior = drawn
    models::AdaptationEstimate::Kind estimate;
  };
  const Variant variants[] = {
      {"sliding windows, pooled (AdaBN)", pipeline::AdaptationMethod::kAdaBN, models::AdaptationEstimate::Kind::kPooled},
      {"sliding windows, batch average", pipeline::AdaptationMethod::kAdaBN,
       models::AdaptationEstimate::Kind::kBatchAverage},
      {"training-like draws, pooled", pipeline::AdaptationMethod::kPrior, models::AdaptationEstimate::Kind::kPooled},
      {"training-like draws, batch avg", pipeline::AdaptationMethod::kPrior,
       models::AdaptationEstimate::Kind::kBatchAverage},
  };
  for (const auto& v : variants) {
    models::Bundle b = original;
    b.model = pipeline::copy_model(original.model);
    const std::int64_t k = models::add_domain(*b.model);
    b.model->options.norm().num_domains(k + 1);
    b.info.architecture = b.model->options;
    b.info.domains.resize(static_cast<std::size_t>(k), "trained");
    b.info.domains.push_back("adapted");
    pipeline::AdaptationOptions o;
    o.method = v.windows;
    o.seed = seed;
    const at::Tensor x = pipeline::pad_to_patch(pre, patch);
    const auto windows = pipeline::adaptation_windows(x, pipeline::body_mask(x).mask, patch, o, seed);
    models::AdaptationEstimate estimate;
    estimate.kind = v.estimate;
    {
      torch::NoGradGuard no_grad;
      models::begin_adaptation(*b.model, k, estimate);
      for (std::size_t first = 0; first < windows.size(); first += 2) {
        std::vector<at::Tensor> batch;
        for (std::size_t w = first; w < std::min(windows.size(), first + 2); ++w) {
          batch.push_back(pipeline::crop_window(x, windows[w], patch));
        }
        const at::Tensor input = at::stack(batch);
        b.model->forward(input, at::full({input.size(0)}, k, at::kLong));
      }
      models::end_adaptation(*b.model);
    }
    b.model->eval();
    const Distance d = distance(b.model, k);
    pipeline::SegmentOptions ao = so;
    ao.domain = "adapted";
    const pipeline::Segmenter adapted(b);
    std::printf("%-34s %-10.3f %-10.3f %s   (%zu windows)\n", v.name, d.mean_shift, d.log_var,
                dice_text(adapted.segment({image}, ao)).c_str(), windows.size());
  }
  return 0;
}
