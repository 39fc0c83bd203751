#pragma once
// PreprocessingPlan <-> JSON text, used for cache keys and saved outputs.
#include <string>

#include "pipeline/preprocess/preprocessor.h"

namespace medseg::pipeline {

/// Canonical JSON (sorted keys, full double precision): equal plans give
/// equal text.
std::string plan_to_json(const PreprocessingPlan& plan);
/// Throws ConfigError naming the key when the text is not a valid plan.
PreprocessingPlan plan_from_json(const std::string& text);

std::string geometry_to_json(const Geometry& g);
Geometry geometry_from_json(const std::string& text);

}  // namespace medseg::pipeline
