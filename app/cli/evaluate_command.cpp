// `medseg evaluate --pred DIR --ref DIR`: metrics per case and label, CSV + summary.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "models/error.h"
#include "pipeline/eval/evaluation.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct EvaluateOptions {
  std::string pred, ref, csv;
  std::vector<int> labels;
  double tolerance = 1.0;
};

int run_evaluate(const EvaluateOptions& o) {
  pipeline::MetricOptions mo;
  mo.surface_dice_tolerance_mm = o.tolerance;
  const auto e = pipeline::evaluate_folders(o.pred, o.ref, o.labels, mo);
  const std::string csv_path = o.csv.empty() ? (fs::path(o.pred) / "evaluation.csv").string() : o.csv;
  {
    const std::string temp = csv_path + ".partial";
    std::ofstream out(temp);
    out << pipeline::evaluation_csv(e);
    if (!out) throw IoError("cannot write '" + csv_path + "'");
    out.close();
    fs::rename(temp, csv_path);
  }
  std::cout << "cases " << e.cases.size() << " matched";
  if (!e.unmatched_predictions.empty()) std::cout << ", " << e.unmatched_predictions.size() << " predictions without reference";
  if (!e.unmatched_references.empty()) std::cout << ", " << e.unmatched_references.size() << " references without prediction";
  std::cout << "\n";
  for (const auto& id : e.unmatched_predictions) std::cout << "  no reference for prediction " << id << "\n";
  for (const auto& id : e.unmatched_references) std::cout << "  no prediction for reference " << id << "\n";
  for (const auto& f : e.failed) std::cerr << "medseg: error: case " << f << "\n";
  std::cout << std::fixed << std::setprecision(4) << "label  metric    mean      median    std       n\n";
  for (int label : e.labels) {
    std::vector<double> dice, hd95, nsd;
    for (const auto& c : e.cases) {
      for (const auto& m : c.labels) {
        if (m.label != label) continue;
        dice.push_back(m.dice);
        hd95.push_back(m.hd95_mm);
        nsd.push_back(m.surface_dice);
      }
    }
    for (const auto& [name, values] : {std::pair{"dice", dice}, std::pair{"hd95_mm", hd95}, std::pair{"nsd", nsd}}) {
      const auto s = pipeline::summarize(values);
      std::cout << std::setw(5) << label << "  " << std::left << std::setw(8) << name << std::right << "  "
                << s.mean << "  " << s.median << "  " << s.std << "  " << s.count << "\n";
    }
  }
  std::cout << "per-case CSV: " << csv_path << "\n";
  return e.failed.empty() ? 0 : 2;
}

}  // namespace

Command add_evaluate_command(CLI::App& parent) {
  auto o = std::make_shared<EvaluateOptions>();
  CLI::App* cli = parent.add_subcommand(
      "evaluate", "Dice, IoU, HD95, mean surface distance, surface Dice and volumes per case and label");
  cli->add_option("--pred", o->pred, "Folder of predicted label maps")->required()->check(CLI::ExistingDirectory);
  cli->add_option("--ref", o->ref, "Folder of reference label maps (matched by file name)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cli->add_option("--labels", o->labels, "Labels to evaluate (default: every nonzero label found)");
  cli->add_option("--tolerance", o->tolerance, "Surface Dice tolerance in mm")->check(CLI::PositiveNumber);
  cli->add_option("--csv", o->csv, "Where to write the per-case CSV (default PRED/evaluation.csv)");
  return {cli, [o] { return run_evaluate(*o); }};
}

}  // namespace medseg::app
