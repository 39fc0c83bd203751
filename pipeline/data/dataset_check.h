#pragma once
// Checks every case of a dataset and reports every problem, not the first.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/data/dataset.h"
#include "pipeline/grid_compare.h"

namespace medseg::pipeline {

struct DatasetProblem {
  std::string case_id;
  std::filesystem::path file;
  std::string message;
};

struct DatasetCheckOptions {
  GridTolerance tolerance;
  /// Cases without a label file are a problem (training needs labels).
  bool require_labels = true;
};

/// Reads every image and label and reports: unreadable, 2D or 4D files;
/// NaN/Inf voxels; channel or label grids that disagree beyond the
/// tolerance; missing label files; label values outside the dataset's
/// label list; labels without any foreground; duplicate case ids; cases
/// with the wrong number of channels. Empty when the dataset is sound.
std::vector<DatasetProblem> check_dataset(const Dataset& dataset, const DatasetCheckOptions& options = {});

/// One line per problem: "case ID: FILE: message".
std::string format_problems(const std::vector<DatasetProblem>& problems);

/// Throws IoError with a first line "dataset 'NAME' has N problem(s)" followed
/// by format_problems(), when there are any.
void throw_if_problems(const Dataset& dataset, const std::vector<DatasetProblem>& problems);

}  // namespace medseg::pipeline
