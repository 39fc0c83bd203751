#pragma once
// Internal to models/: the architecture as a JSON tree, from which both
// model.yaml (bundle.cpp) and the training config's `model:` section
// (write_architecture) are written, and with which save_bundle compares a
// bundle's declared architecture against the model's own options.
#include <nlohmann/json.hpp>

#include "models/architecture.h"

namespace medseg::models::detail {

nlohmann::ordered_json architecture_json(const UNet3dOptions& options, ArchitectureKeys keys);

}  // namespace medseg::models::detail
