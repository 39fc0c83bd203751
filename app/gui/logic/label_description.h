#pragma once
// How a label is shown: name, colour, visibility. Comes from a model
// bundle's label list when one is given, else from defaults.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace medseg::models {
struct LabelInfo;  // models/bundle.h; not included here, it pulls in torch::nn
}  // namespace medseg::models

namespace medseg::gui {

struct LabelDescription {
  std::int16_t value = 0;
  std::string name;
  std::array<std::uint8_t, 3> color{255, 0, 0};  ///< RGB
  bool visible = true;
};

/// The bundle's labels without background (value 0), in the bundle's order.
std::vector<LabelDescription> labels_from_bundle(const std::vector<models::LabelInfo>& labels);

/// A description for a label nobody named: "Label <value>" and a colour from
/// a fixed 12-colour palette (after ITK-SNAP's default label colours:
/// red, green, blue, yellow, cyan, magenta, ...), cycling by value.
LabelDescription default_label_description(std::int16_t value);

}  // namespace medseg::gui
