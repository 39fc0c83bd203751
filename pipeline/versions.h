#pragma once
#include <string>

namespace medseg::pipeline {

/// "LibTorch X, ITK Y, yaml-cpp": the library versions medseg was built with.
std::string library_versions();

}  // namespace medseg::pipeline
