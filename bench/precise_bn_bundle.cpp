// PreciseBN on an existing bundle (issue 18): re-estimates its batch-norm
// statistics with its own weights over training batches drawn as the config
// draws them, and writes a copy, so that the effect of the statistics alone
// can be measured (bench/scanner_shift.sh) without retraining.
//
//   medseg_bench_precise_bn_bundle CONFIG BUNDLE OUT BATCHES [training|spatial]
//
// `training` (default): the config's augmentation, as training saw it (and
// as training.precise_bn_batches re-estimates); `spatial`: only flips,
// rotation and scaling, i.e. the training scanner's own intensities.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "models/bundle.h"
#include "models/precision.h"
#include "pipeline/config/train_config.h"
#include "pipeline/train/precise_batch_norm.h"
#include "pipeline/train/training_data.h"

using namespace medseg;  // NOLINT(google-build-using-namespace)

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s CONFIG BUNDLE OUT BATCHES [training|spatial]\n", argv[0]);
    return 2;
  }
  try {
    pipeline::TrainConfig config = pipeline::load_train_config(argv[1]);
    const std::string population = argc > 5 ? argv[5] : "training";
    if (population == "spatial") {
      auto& a = config.augmentation;
      for (auto* p : {&a.elastic, &a.gain, &a.offset, &a.contrast, &a.gamma, &a.bias_field, &a.noise, &a.blur,
                      &a.low_resolution, &a.inversion, &a.remap}) {
        p->probability = 0.0;
      }
      a.gamma_invert_probability = 0.0;
    } else if (population != "training") {
      std::fprintf(stderr, "population must be training or spatial, got %s\n", population.c_str());
      return 2;
    }
    models::Bundle bundle = models::load_bundle(argv[2]);
    const auto data = pipeline::prepare_training_data(config, models::total_stride(config.model.architecture),
                                                      [](const std::string& line) { std::puts(line.c_str()); });
    const pipeline::PatchSampler sampler(data.training, data.patch_size);
    const pipeline::Augmenter augmenter(config.augmentation, data.patch_size);
    const pipeline::BatchLoaderOptions lo = pipeline::precise_bn_loader_options(config.training);
    const bool bf16 = models::resolve_precision(config.training.precision) == models::Precision::kBf16;
    const std::int64_t layers =
        pipeline::recompute_batch_norm_statistics(bundle.model, sampler, augmenter, lo, std::stoll(argv[4]), bf16);
    bundle.info.provenance.notes.push_back("batch-norm statistics re-estimated (PreciseBN) over " +
                                           std::string(argv[4]) + " batches, " + population + " augmentation");
    models::save_bundle(argv[3], bundle.info, bundle.model);
    std::printf("%lld layers re-estimated (%s), %s\n", static_cast<long long>(layers), bf16 ? "bf16" : "fp32", argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
