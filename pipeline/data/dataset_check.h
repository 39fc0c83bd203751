#pragma once
// Checks every case of a dataset and reports every problem, not the first.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/data/dataset.h"
#include "pipeline/grid_compare.h"
#include "pipeline/volume.h"

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
/// NaN/Inf voxels (the readers refuse them); channel or label grids that disagree beyond the
/// tolerance; missing label files; label values outside the dataset's
/// label list; labels without any foreground; duplicate case ids; cases
/// with the wrong number of channels. Empty when the dataset is sound.
///
/// `on_sound_case`, when given, is called for every case without a problem
/// (labels present) with the volumes as read, so that a caller can measure
/// the dataset in the same reading (FingerprintBuilder); an Error it throws
/// is reported as a problem of that case.
using SoundCaseVisitor =
    std::function<void(const CaseEntry& c, const Volume& labels, const std::vector<Volume>& images)>;
std::vector<DatasetProblem> check_dataset(const Dataset& dataset, const DatasetCheckOptions& options = {},
                                          const SoundCaseVisitor& on_sound_case = {});

/// One line per problem: "case ID: FILE: message".
std::string format_problems(const std::vector<DatasetProblem>& problems);

/// Throws IoError with a first line "dataset 'NAME' has N problem(s)" followed
/// by format_problems(), when there are any.
void throw_if_problems(const Dataset& dataset, const std::vector<DatasetProblem>& problems);

}  // namespace medseg::pipeline
