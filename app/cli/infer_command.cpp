// `medseg infer --model BUNDLE INPUT... --output DIR`: label maps in the
// input's exact geometry plus a JSON report per case, a summary at the end.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "app/cli/command.h"
#include "app/cli/progress_bar.h"
#include "app/version.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "models/bundle.h"
#include "models/precision.h"
#include "pipeline/infer/batch_inference.h"
#include "pipeline/infer/inference_report.h"
#include "pipeline/infer/shard.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct InferArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string output;
  bool tta = false;
  std::string precision = "auto";
  double overlap = 0.5;
  bool probabilities = false;
  std::string domain;
  std::string adapt_method;  // empty: the model's, else the default
  std::optional<bool> adapt_check;  // unset: the model's, else checked
  std::optional<double> adapt_min_change;  // unset: the model's, else the default
  std::int64_t adapt_layers = 0;
  std::optional<std::int64_t> adapt_prior_windows;  // unset: the model's, else the default
  std::optional<double> adapt_prior_strength;       // unset: the model's, else the default
  bool keep_largest = false;
  double min_island_ml = 0.0;
  std::int64_t windows_per_batch = 2;
  bool run_every_window = false;
  bool reference_network = false;
  bool overwrite = false;
  bool json = false;
  std::string shard;
  std::string format;
};

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

void print_summary(const models::BundleInfo& info, const std::vector<pipeline::CaseOutcome>& outcomes) {
  std::size_t width = 4;
  for (const auto& o : outcomes) width = std::max(width, o.id.size());
  std::string header = "case" + std::string(width - 4, ' ') + "  status   seconds";
  for (std::size_t k = 1; k < info.labels.size(); ++k) header += "  " + info.labels[k].name + " mL";
  std::cout << header << "\n";
  for (const auto& o : outcomes) {
    std::string line = o.id + std::string(width - o.id.size(), ' ') + "  ";
    std::string status = pipeline::to_string(o.status);
    line += status + std::string(9 - status.size(), ' ');
    std::string secs = o.status == pipeline::CaseStatus::kSkipped ? "-" : fixed(o.seconds, 1);
    line += std::string(secs.size() < 7 ? 7 - secs.size() : 0, ' ') + secs;
    for (std::size_t k = 1; k < info.labels.size(); ++k) {
      std::string v = "-";
      for (const auto& l : o.labels) {
        if (l.value == info.labels[k].value) v = fixed(l.volume_ml, 2);
      }
      const std::size_t w = info.labels[k].name.size() + 3;
      line += "  " + std::string(v.size() < w ? w - v.size() : 0, ' ') + v;
    }
    std::cout << line << "\n";
  }
}

nlohmann::ordered_json outcome_json(const pipeline::CaseOutcome& o) {
  nlohmann::ordered_json j;
  j["case"] = o.id;
  j["input"] = o.input;
  j["status"] = pipeline::to_string(o.status);
  j["seconds"] = o.seconds;
  if (!o.message.empty()) j["message"] = o.message;
  if (o.status != pipeline::CaseStatus::kFailed) {
    j["output"] = o.label_file.string();
    if (o.label_files.size() > 1) {
      nlohmann::ordered_json files = nlohmann::ordered_json::array();
      for (const auto& f : o.label_files) files.push_back(f.string());
      j["outputs"] = files;
    }
    j["report"] = o.report_file.string();
  }
  nlohmann::ordered_json labels = nlohmann::ordered_json::array();
  for (const auto& l : o.labels) {
    labels.push_back({{"value", l.value}, {"name", l.name}, {"voxels", l.voxels}, {"volume_ml", l.volume_ml}});
  }
  j["labels"] = labels;
  return j;
}

int run_infer(const InferArgs& a) {
  pipeline::SegmentOptions so;
  so.overlap = a.overlap;
  so.mirror = a.tta;
  so.precision = models::parse_precision(a.precision);
  models::resolve_precision(so.precision);  // an emulated bf16 is warned about before the first case
  so.windows_per_batch = a.windows_per_batch;
  so.skip_empty_windows = !a.run_every_window;
  so.reference_network = a.reference_network;
  so.keep_largest_component = a.keep_largest;
  so.min_island_ml = a.min_island_ml;
  so.probabilities = a.probabilities;
  so.domain = a.domain;
  if (!a.adapt_method.empty()) {
    try {
      so.adapt_methods = pipeline::parse_adaptation_methods(a.adapt_method);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("--adapt-method: ") + e.what());
    }
  }
  so.adapt_check = a.adapt_check;
  so.adapt_min_change = a.adapt_min_change;
  so.adapt_layers = a.adapt_layers;
  so.adapt_prior_windows = a.adapt_prior_windows;
  so.adapt_prior_strength = a.adapt_prior_strength;

  // Everything that would fail every case is checked before the first one.
  const pipeline::Segmenter segmenter(models::load_bundle(a.model));
  segmenter.check(so);
  const fs::path output = a.output;
  pipeline::ensure_writable_folder(output);
  std::vector<fs::path> inputs(a.inputs.begin(), a.inputs.end());
  auto cases = pipeline::collect_inference_cases(inputs, segmenter.info().architecture.in_channels());
  if (cases.empty()) throw ConfigError("no input cases found in the given paths");
  std::string summary_name = "summary.csv";
  if (!a.shard.empty()) {
    const pipeline::Shard shard = pipeline::parse_shard(a.shard);
    const std::size_t all = cases.size();
    cases = pipeline::select_shard(std::move(cases), shard);
    summary_name = pipeline::shard_summary_name(shard);
    if (!a.json) {
      std::cout << "shard " << shard.index << "/" << shard.count << ": " << cases.size() << " of " << all
                << " cases" << std::endl;
    }
  }

  pipeline::CaseRunOptions options;
  options.output_dir = output;
  if (!a.format.empty()) options.formats = pipeline::parse_label_formats(a.format);
  options.overwrite = a.overwrite;
  options.segment = so;
  options.software_version = std::string(kVersion) + " (" + kGitCommit + ")";
  options.model_path = a.model;

  const auto n = static_cast<std::int64_t>(cases.size());
  ProgressBar bar("infer");
  std::vector<pipeline::CaseOutcome> outcomes;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& c = cases[static_cast<std::size_t>(i)];
    options.segment.progress = [&bar, i, n, &c](double f) {
      bar.update(i, n, c.id + " " + std::to_string(static_cast<int>(100.0 * f)) + "%");
      return true;
    };
    bar.update(i, n, c.id);
    outcomes.push_back(pipeline::run_inference_case(segmenter, c, options));
    const auto& o = outcomes.back();
    bar.clear();
    const std::string counter = "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] ";
    if (o.status == pipeline::CaseStatus::kFailed) {
      std::cerr << "medseg: error: case " << o.id << ": " << o.message << std::endl;
    } else if (!a.json) {
      std::cout << counter << o.id << ": "
                << (o.status == pipeline::CaseStatus::kSkipped ? "skipped, " + o.message
                                                               : "done in " + fixed(o.seconds, 1) + " s -> " +
                                                                     o.label_file.string())
                << std::endl;
    }
  }
  bar.update(n, n, "");
  bar.clear();
  const fs::path csv = output / summary_name;
  core::write_text_file_atomically(csv, pipeline::inference_summary_csv(segmenter.info(), outcomes));

  std::int64_t done = 0, skipped = 0, failed = 0;
  for (const auto& o : outcomes) {
    done += o.status == pipeline::CaseStatus::kDone;
    skipped += o.status == pipeline::CaseStatus::kSkipped;
    failed += o.status == pipeline::CaseStatus::kFailed;
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = {{"name", segmenter.info().name}, {"version", segmenter.info().version}, {"path", a.model}};
    j["output_dir"] = output.string();
    j["summary_csv"] = csv.string();
    j["done"] = done;
    j["skipped"] = skipped;
    j["failed"] = failed;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& o : outcomes) list.push_back(outcome_json(o));
    j["cases"] = list;
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "\n";
    print_summary(segmenter.info(), outcomes);
    std::cout << "\n" << done << " done, " << skipped << " skipped, " << failed << " failed; reports and labels in "
              << output.string() << ", summary " << csv.string() << std::endl;
  }
  return failed == 0 ? 0 : 2;
}

}  // namespace

Command add_infer_command(CLI::App& parent) {
  auto a = std::make_shared<InferArgs>();
  CLI::App* cli = parent.add_subcommand(
      "infer", "Segment volumes with a model bundle: label maps in the input's exact geometry + JSON reports");
  cli->add_option("--model", a->model, "Model bundle folder (model.yaml + weights.pt)")->required();
  cli->add_option("inputs", a->inputs,
                  "Image files (.nii, .nii.gz, .nrrd, .mha, .mhd), folders of them, DICOM series folders, "
                  "or .txt/.csv lists of paths")
      ->required();
  cli->add_option("--output,-o", a->output, "Output folder (created if needed)")->required();
  cli->add_flag("--tta", a->tta, "Test-time augmentation: average over the 8 mirrorings (8x slower)");
  cli->add_option("--precision", a->precision,
                  "auto (default: bf16 where the CPU has native bf16, else fp32), fp32 or bf16");
  cli->add_option("--overlap", a->overlap, "Overlap of neighbouring windows, 0 <= overlap < 1 (default 0.5)")
      ->check(CLI::Range(0.0, 0.99));
  cli->add_flag("--probabilities", a->probabilities,
                "Also write a float32 probability map per foreground label (CASE_prob_VALUE)");
  cli->add_option("--domain", a->domain,
                  "Scanner statistics to use: a domain name of the model, or 'auto' to adapt them to each "
                  "volume (default: the model's first domain)");
  cli->add_option("--adapt-method", a->adapt_method,
                  "With --domain auto: prior (training-like windows, statistics mixed with the model's), "
                  "adabn (every window, model statistics replaced), tent (prior, then entropy minimisation "
                  "of the batch-norm scale/shift), or several, comma-separated: each adapts a copy and the "
                  "one with the lowest prediction entropy is used (default: the model's adaptation.methods, "
                  "else prior,adabn)");
  auto* no_check = cli->add_flag_function(
      "--no-adapt-check", [a](std::int64_t) { a->adapt_check = false; },
      "With --domain auto: always use the adapted statistics, of several methods the one with the lowest "
      "prediction entropy (default: the model's adaptation.check, else checked)");
  cli->add_flag_function(
         "--adapt-check", [a](std::int64_t) { a->adapt_check = true; },
         "With --domain auto: use the adapted statistics only when the label-free check finds they lower "
         "the prediction entropy and change enough labels, see --adapt-min-change; the report says what "
         "was decided (default: the model's adaptation.check, else checked)")
      ->excludes(no_check);
  cli->add_option_function<double>(
         "--adapt-min-change", [a](double v) { a->adapt_min_change = v; },
         "With the check: the share of body voxels (0..1) an adaptation must relabel to be kept; a lower "
         "entropy from a smaller change is not trusted (default: the model's adaptation.min_change, else "
         "0.2; 0 = entropy alone)")
      ->check(CLI::Range(0.0, 1.0));
  cli->add_option("--adapt-layers", a->adapt_layers,
                  "With --domain auto: adapt only the first N batch-norm layers (the encoder from full "
                  "resolution down); the deeper ones keep the model's statistics (default 0 = all)")
      ->check(CLI::NonNegativeNumber);
  cli->add_option_function<std::int64_t>(
      "--adapt-windows", [a](std::int64_t v) { a->adapt_prior_windows = v; },
      "With --domain auto, prior and tent: windows drawn per scan, a third centred on the body (default: the "
      "model's adaptation.prior_windows, else 16)");
  cli->add_option_function<double>(
      "--adapt-prior-strength", [a](double v) { a->adapt_prior_strength = v; },
      "With --domain auto, prior and tent: the weight N of the model's own statistics, in windows; they "
      "count N / (N + windows) in the mix, 0 = the scan's alone (default: the model's "
      "adaptation.prior_strength, else 16)");
  cli->add_flag("--keep-largest", a->keep_largest, "Keep only the largest connected component of each label");
  cli->add_option("--min-island-ml", a->min_island_ml, "Remove components smaller than this volume (mL)")
      ->check(CLI::NonNegativeNumber);
  cli->add_option("--windows-per-batch", a->windows_per_batch, "Windows per network forward pass (default 2)")
      ->check(CLI::PositiveNumber);
  cli->add_flag("--run-every-window", a->run_every_window,
                "Run the network on windows without body too (default: they get an empty window's logits)");
  cli->add_flag("--reference-network", a->reference_network,
                "Run the trained network unfolded (slower; to check the default fast path)");
  cli->add_option("--format", a->format,
                  "Label map format(s), comma-separated: nifti (CASE.nii.gz), nrrd (CASE.nrrd), dicom-seg "
                  "(CASE.dcm, a DICOM SEG referencing the input series; DICOM input only). Default: the input's "
                  "format (NIfTI for DICOM input)");
  cli->add_flag("--overwrite", a->overwrite, "Redo cases whose outputs exist (default: skip them)");
  cli->add_flag("--json", a->json, "Print a machine-readable summary on stdout");
  cli->add_option("--shard", a->shard,
                  "Process shard K/N (0 <= K < N) of the sorted cases, or 'slurm' (K, N from the job array); "
                  "writes summary.shard-K-of-N.csv (merge with `medseg merge-shards`)");
  return {cli, [a] { return run_infer(*a); }};
}

}  // namespace medseg::app
