#include "pipeline/versions.h"

#include <itkConfigure.h>
#include <torch/version.h>

namespace medseg::pipeline {

std::string library_versions() {
  return std::string("LibTorch ") + TORCH_VERSION + ", ITK " + ITK_VERSION_STRING;
}

}  // namespace medseg::pipeline
