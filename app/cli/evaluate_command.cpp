// `medseg evaluate --pred DIR --ref DIR`: metrics per case and label, CSV + summary.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <vector>

#include "app/cli/command.h"
#include "core/atomic_file.h"
#include "core/timestamp.h"
#include "pipeline/eval/evaluation.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct EvaluateOptions {
  std::string pred, ref, csv;
  std::vector<int> labels;
  double tolerance = 1.0;
};

// PRED/evaluation.csv -> PRED/evaluation_summary.csv, out.csv -> out_summary.csv.
fs::path summary_path_for(const fs::path& csv) {
  return csv.parent_path() / (csv.stem().string() + "_summary" + csv.extension().string());
}

void print_summary(const pipeline::Evaluation& e, const std::vector<pipeline::SummaryRow>& rows) {
  std::cout << e.cases.size() << " case(s) evaluated";
  if (!e.failed.empty()) std::cout << ", " << e.failed.size() << " failed";
  if (!e.unmatched_predictions.empty()) std::cout << ", " << e.unmatched_predictions.size() << " prediction(s) without reference";
  if (!e.unmatched_references.empty()) std::cout << ", " << e.unmatched_references.size() << " reference(s) without prediction";
  std::cout << "\n";
  for (const auto& id : e.unmatched_predictions) std::cout << "  no reference for prediction " << id << "\n";
  for (const auto& id : e.unmatched_references) std::cout << "  no prediction for reference " << id << "\n";
  for (const auto& f : e.failed) std::cerr << "medseg: error: case " << f << "\n";
  std::cout << std::left << std::setw(7) << "label" << std::setw(16) << "metric" << std::right << std::setw(12) << "mean"
            << std::setw(12) << "median" << std::setw(12) << "std" << std::setw(5) << "n" << "\n";
  std::cout << std::fixed << std::setprecision(4);
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(7) << r.label << std::setw(16) << r.metric << std::right << std::setw(12)
              << r.stat.mean << std::setw(12) << r.stat.median << std::setw(12) << r.stat.std << std::setw(5)
              << r.stat.count << "\n";
  }
}

int run_evaluate(const EvaluateOptions& o) {
  pipeline::MetricOptions mo;
  mo.surface_dice_tolerance_mm = o.tolerance;
  const auto e = pipeline::evaluate_folders(o.pred, o.ref, o.labels, mo);
  const auto rows = pipeline::summary_rows(e);
  const fs::path csv_path = o.csv.empty() ? fs::path(o.pred) / "evaluation.csv" : fs::path(o.csv);
  const fs::path summary_path = summary_path_for(csv_path);
  core::write_text_file_atomically(csv_path, pipeline::evaluation_csv(e));
  core::write_text_file_atomically(summary_path, pipeline::summary_csv(rows));
  print_summary(e, rows);
  std::cout << "per-case CSV: " << csv_path.string() << "\nsummary CSV: " << summary_path.string() << "\n";
  return e.failed.empty() ? 0 : 2;
}

}  // namespace

Command add_evaluate_command(CLI::App& parent) {
  auto o = std::make_shared<EvaluateOptions>();
  CLI::App* cli = parent.add_subcommand(
      "evaluate", "Dice, IoU, HD95, mean surface distance, surface Dice and volumes per case and label");
  cli->add_option("--pred", o->pred, "Folder of predicted label maps")->required()->check(CLI::ExistingDirectory);
  cli->add_option("--ref", o->ref, "Folder of reference label maps (matched to predictions by case id: the file name without its image extension)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cli->add_option("--labels", o->labels, "Labels to evaluate (default: every nonzero label found)");
  cli->add_option("--tolerance", o->tolerance, "Surface Dice tolerance in mm")->check(CLI::PositiveNumber);
  cli->add_option("--csv", o->csv, "Where to write the per-case CSV (default PRED/evaluation.csv); the summary goes next to it as NAME_summary.csv");
  return {cli, [o] { return run_evaluate(*o); }};
}

}  // namespace medseg::app
