#include "pipeline/data/dataset_check.h"

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <utility>

#include "core/error.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/label_kernels.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

class CaseChecker {
 public:
  CaseChecker(const Dataset& d, const DatasetCheckOptions& o, const SoundCaseVisitor& visitor,
              std::vector<DatasetProblem>& out)
      : dataset_(d), options_(o), visitor_(visitor), problems_(out) {}

  void check(const CaseEntry& c) {
    const std::size_t problems_before = problems_.size();
    if (c.images.size() != dataset_.channel_names.size()) {
      report(c, c.images.empty() ? fs::path() : c.images.front(),
             std::to_string(c.images.size()) + " image(s), the dataset has " +
                 std::to_string(dataset_.channel_names.size()) + " channel(s)");
    }
    std::optional<Geometry> reference;
    fs::path reference_file;
    std::vector<Volume> images;
    for (const auto& file : c.images) {
      auto v = read(c, file, false);
      if (!v) continue;
      if (!reference) {
        reference = v->geometry;
        reference_file = file;
      } else {
        const std::string diff = grid_difference(v->geometry, *reference, options_.tolerance);
        if (!diff.empty()) report(c, file, "grid differs from '" + reference_file.string() + "': " + diff);
      }
      if (visitor_) images.push_back(std::move(*v));
    }
    if (c.label.empty()) {
      if (options_.require_labels) report(c, {}, "no label file given");
      return;
    }
    std::error_code ec;
    if (!fs::exists(c.label, ec)) {
      report(c, c.label, "label file is missing");
      return;
    }
    const auto labels = read(c, c.label, true);
    if (!labels) return;
    if (reference) {
      const std::string diff = grid_difference(labels->geometry, *reference, options_.tolerance);
      if (!diff.empty()) {
        report(c, c.label, "label grid differs from image '" + reference_file.string() + "': " + diff);
      }
    }
    const auto histogram = value_histogram(labels->data);
    std::string unknown;
    bool foreground = false;
    for (const auto& [value, count] : histogram) {
      if (dataset_.labels.count(value) == 0) unknown += (unknown.empty() ? "" : ", ") + std::to_string(value);
      foreground = foreground || value != 0;
    }
    if (!unknown.empty()) {
      std::string known;
      for (const auto& [value, name] : dataset_.labels) known += (known.empty() ? "" : ", ") + std::to_string(value);
      report(c, c.label, "label value(s) " + unknown + " are not in the dataset's labels (" + known + ")");
    }
    if (!foreground) report(c, c.label, "label map has no foreground");
    if (!visitor_ || problems_.size() != problems_before) return;
    try {
      visitor_(c, *labels, images);
    } catch (const Error& e) {
      report(c, {}, e.what());
    }
  }

 private:
  std::optional<Volume> read(const CaseEntry& c, const fs::path& file, bool as_labels) {
    try {
      return as_labels ? read_label_map(file) : read_volume(file);
    } catch (const Error& e) {
      report(c, file, e.what());
      return std::nullopt;
    }
  }

  void report(const CaseEntry& c, const fs::path& file, const std::string& message) {
    problems_.push_back({c.id, file, message});
  }

  const Dataset& dataset_;
  const DatasetCheckOptions& options_;
  const SoundCaseVisitor& visitor_;
  std::vector<DatasetProblem>& problems_;
};

}  // namespace

std::vector<DatasetProblem> check_dataset(const Dataset& dataset, const DatasetCheckOptions& options,
                                          const SoundCaseVisitor& on_sound_case) {
  std::vector<DatasetProblem> problems;
  std::map<std::string, int> seen;
  for (const auto& c : dataset.cases) {
    if (++seen[c.id] == 2) {
      problems.push_back({c.id, dataset.source, "case id appears more than once"});
    }
  }
  CaseChecker checker(dataset, options, on_sound_case, problems);
  for (const auto& c : dataset.cases) checker.check(c);
  return problems;
}

std::string format_problems(const std::vector<DatasetProblem>& problems) {
  std::string text;
  for (const auto& p : problems) {
    text += "case " + p.case_id + ": ";
    if (!p.file.empty()) text += p.file.string() + ": ";
    text += p.message + "\n";
  }
  return text;
}

void throw_if_problems(const Dataset& dataset, const std::vector<DatasetProblem>& problems) {
  if (problems.empty()) return;
  throw IoError("dataset '" + dataset.name + "' (" + dataset.source.string() + ") has " +
                std::to_string(problems.size()) + " problem(s):\n" + format_problems(problems));
}

}  // namespace medseg::pipeline
