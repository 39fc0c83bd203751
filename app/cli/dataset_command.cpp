// `medseg dataset PATH`: check a dataset, then show its fingerprint and plan.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "pipeline/data/dataset.h"
#include "pipeline/data/dataset_check.h"
#include "pipeline/data/fingerprint.h"
#include "pipeline/data/planner.h"
#include "pipeline/preprocess/plan_json.h"

namespace medseg::app {
namespace {

struct DatasetOptions {
  std::string path;
  bool as_json = false;
  double budget_gib = 2.0;
};

int run_dataset(const DatasetOptions& o) {
  const pipeline::Dataset d = pipeline::read_dataset(o.path);
  // One reading of every file: the check measures each sound case on the way.
  pipeline::FingerprintBuilder fingerprint(d);
  const auto problems = pipeline::check_dataset(
      d, {}, [&](const auto& c, const auto& labels, const auto& images) { fingerprint.add(c, labels, images); });
  if (!problems.empty()) {
    std::cerr << "medseg: error: dataset '" << d.name << "' (" << d.source.string() << ") has "
              << problems.size() << " problem(s):\n"
              << pipeline::format_problems(problems);
    return 2;
  }
  const auto fp = fingerprint.finish();
  pipeline::PlanOptions plan_options;
  plan_options.memory_budget_bytes = static_cast<std::int64_t>(o.budget_gib * (1LL << 30));
  const auto plan = pipeline::plan_dataset(d, fp, plan_options);
  nlohmann::json label_voxels = nlohmann::json::object();
  for (const auto& [value, count] : fp.label_voxels) label_voxels[std::to_string(value)] = count;
  nlohmann::json j = {{"name", d.name},
                      {"source", d.source.string()},
                      {"cases", d.cases.size()},
                      {"channels", d.channel_names},
                      {"domains", pipeline::domain_names(d)},
                      {"label_voxels", label_voxels},
                      {"patch_size", plan.patch_size},
                      {"median_shape", plan.median_shape},
                      {"preprocessing", nlohmann::json::parse(pipeline::plan_to_json(plan.preprocessing))}};
  if (o.as_json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "dataset      " << d.name << " (" << d.source.string() << ")\n"
            << "cases        " << d.cases.size() << ", all readable and consistent\n"
            << "channels     " << nlohmann::json(d.channel_names).dump() << "\n"
            << "domains      " << j["domains"].dump() << "\n"
            << "labels       ";
  for (const auto& [value, name] : d.labels) {
    const auto it = fp.label_voxels.find(value);
    std::cout << value << "=" << name << " (" << (it == fp.label_voxels.end() ? 0 : it->second) << " voxels)  ";
  }
  const auto& s = plan.preprocessing.target_spacing;
  std::cout << "\nspacing      " << s[0] << " x " << s[1] << " x " << s[2] << " mm (planned)\n"
            << "patch        " << plan.patch_size[0] << " x " << plan.patch_size[1] << " x "
            << plan.patch_size[2] << " voxels (budget " << o.budget_gib << " GiB)\n";
  for (std::size_t c = 0; c < plan.preprocessing.normalization.size(); ++c) {
    const auto& r = plan.preprocessing.normalization[c];
    const auto& st = fp.foreground_intensity[c];
    std::cout << "channel " << c << "    " << d.channel_names[c] << ": normalization " << pipeline::to_string(r.kind)
              << (r.use_nonzero_mask ? " (inside nonzero mask)" : "") << "; foreground mean "
              << st.mean << ", std " << st.std << ", p0.5 " << st.percentile_00_5 << ", p99.5 "
              << st.percentile_99_5 << "\n";
  }
  return 0;
}

}  // namespace

Command add_dataset_command(CLI::App& parent) {
  auto o = std::make_shared<DatasetOptions>();
  CLI::App* cli = parent.add_subcommand(
      "dataset", "Check a dataset (nnU-Net folder, MSD dataset.json or YAML case list), then print "
                 "its fingerprint and preprocessing plan");
  cli->add_option("path", o->path, "Dataset folder, dataset.json or .yaml case list")->required();
  cli->add_flag("--json", o->as_json, "Print JSON");
  cli->add_option("--memory-budget", o->budget_gib, "Training memory budget for the patch, GiB")
      ->check(CLI::PositiveNumber);
  return {cli, [o] { return run_dataset(*o); }};
}

}  // namespace medseg::app
