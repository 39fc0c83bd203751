// `medseg adapt --model BUNDLE --domain NAME IMAGES... --output BUNDLE2`:
// a new scanner's statistics from unlabeled volumes (AdaBN), as a new domain
// of a new bundle.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "app/cli/progress_bar.h"
#include "app/version.h"
#include "core/error.h"
#include "core/timestamp.h"
#include "models/bundle.h"
#include "models/precision.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/batch_inference.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/preprocess/plan_json.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct AdaptArgs {
  std::string model;
  std::string domain;
  std::vector<std::string> images;
  std::string output;
  std::string precision = "auto";
  double overlap = 0.5;
  std::int64_t windows_per_batch = 2;
  std::string method = "prior";
  std::int64_t layers = 0;
  std::int64_t windows = pipeline::AdaptationOptions{}.windows_per_image;
  double prior_strength = pipeline::AdaptationOptions{}.prior_strength;
};

std::string shortest(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

int run_adapt(const AdaptArgs& a) {
  const models::Precision precision = models::resolve_precision(models::parse_precision(a.precision));
  std::error_code ec;
  if (fs::exists(a.output, ec) && fs::exists(a.model, ec) && fs::equivalent(a.output, a.model, ec)) {
    throw ConfigError("--output '" + a.output + "' is the input bundle; write the adapted model to a new folder");
  }
  models::Bundle bundle = models::load_bundle(a.model);
  pipeline::check_new_domain(bundle.info, a.domain);  // before reading any image
  const pipeline::Preprocessor preprocessor(pipeline::plan_from_json(bundle.info.preprocessing_json));
  std::vector<fs::path> inputs(a.images.begin(), a.images.end());
  const auto cases = pipeline::collect_inference_cases(inputs, bundle.info.architecture.in_channels());
  if (cases.empty()) throw ConfigError("no images found in the given paths");
  for (const auto& c : cases) {
    if (!c.error.empty()) throw IoError(c.error);
  }

  ProgressBar bar("read");
  std::vector<at::Tensor> images;
  const auto n = static_cast<std::int64_t>(cases.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& c = cases[static_cast<std::size_t>(i)];
    bar.update(i, n, c.id);
    pipeline::ReadOptions ro;
    ro.series_uid = c.series_uid;
    std::vector<pipeline::Volume> channels;
    for (const auto& p : c.channels) channels.push_back(pipeline::read_volume(p, ro));
    images.push_back(preprocessor(channels).image.data);
  }
  bar.clear();
  bar.restart("adapt");
  pipeline::AdaptationOptions options;
  options.method = pipeline::parse_adaptation_method(a.method);
  options.overlap = a.overlap;
  options.windows_per_batch = a.windows_per_batch;
  options.layers = a.layers;
  options.windows_per_image = a.windows;
  options.prior_strength = a.prior_strength;
  options.bf16 = precision == models::Precision::kBf16;
  options.progress = [&bar](double f) {
    bar.update(static_cast<std::int64_t>(1000 * f), 1000, "windows");
    return true;
  };
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t index = pipeline::add_adapted_domain(bundle, a.domain, images, options);
  bar.clear();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bundle.info.provenance.notes.push_back(
      core::utc_timestamp() + ": domain '" + a.domain + "' (index " + std::to_string(index) + ") added by " + a.method + " adaptation" +
      (a.layers > 0 ? " of the first " + std::to_string(a.layers) + " batch-norm layers" : std::string()) +
      (a.method == "prior" ? " (" + std::to_string(a.windows) + " windows per volume, prior strength " +
                                 shortest(a.prior_strength) + ")"
                           : std::string()) +
      " on " +
      std::to_string(images.size()) + " unlabeled volume(s) with medseg adapt " + kVersion + " (" + kGitCommit +
      "), " + models::to_string(precision) + ", from bundle '" + a.model + "'; weights and metrics are those of the original");
  models::save_bundle(a.output, bundle.info, bundle.model);
  std::cout << "domain '" << a.domain << "' adapted on " << images.size() << " volume(s) in "
            << format_duration(seconds) << "; domains now:";
  for (const auto& d : bundle.info.domains) std::cout << " " << d;
  std::cout << "\nwrote " << a.output << " (use: medseg infer --model " << a.output << " --domain " << a.domain
            << " ...)" << std::endl;
  return 0;
}

}  // namespace

Command add_adapt_command(CLI::App& parent) {
  auto a = std::make_shared<AdaptArgs>();
  CLI::App* cli = parent.add_subcommand(
      "adapt", "Adapt a model to a new scanner without labels (AdaBN): a new bundle with one more domain");
  cli->add_option("--model", a->model, "Model bundle folder")->required();
  cli->add_option("--domain", a->domain, "Name of the new domain (scanner/site)")->required();
  cli->add_option("images", a->images,
                  "Unlabeled images of the new scanner: files, folders, DICOM series folders or .txt/.csv lists")
      ->required();
  cli->add_option("--output,-o", a->output, "New bundle folder")->required();
  cli->add_option("--precision", a->precision,
                  "Convolutions of the adaptation passes: auto (default: bf16 where the CPU has native bf16, "
                  "else fp32), fp32 or bf16");
  cli->add_option("--adapt-method", a->method,
                  "prior (default: windows drawn like training patches, statistics mixed with the model's "
                  "by N/(N+n)) or adabn (every sliding window, the model's statistics replaced)")
      ->check(CLI::IsMember({"prior", "adabn"}));
  cli->add_option("--overlap", a->overlap, "adabn: overlap of neighbouring windows (default 0.5)")
      ->check(CLI::Range(0.0, 0.99));
  cli->add_option("--windows-per-batch", a->windows_per_batch, "Windows per forward pass (default 2)")
      ->check(CLI::PositiveNumber);
  cli->add_option("--adapt-layers", a->layers,
                  "Adapt only the first N batch-norm layers (the encoder from full resolution down); the "
                  "deeper ones keep the model's statistics (default 0 = all)")
      ->check(CLI::NonNegativeNumber);
  cli->add_option("--adapt-windows", a->windows,
                  "prior: windows drawn per volume, a third centred on the body (default 16; a model's "
                  "adaptation.prior_windows applies to infer --domain auto only)")
      ->check(CLI::Range(models::kMinPriorWindows, models::kMaxPriorWindows));
  cli->add_option("--adapt-prior-strength", a->prior_strength,
                  "prior: the weight N of the model's own statistics, in windows; they count N / (N + n) "
                  "for n windows drawn in all, 0 = the new scanner's alone (default 16)")
      ->check(CLI::Range(0.0, models::kMaxPriorStrength));
  return {cli, [a] { return run_adapt(*a); }};
}

}  // namespace medseg::app
