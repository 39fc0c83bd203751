#include "app/gui/logic/label_description.h"

#include "models/bundle.h"

namespace medseg::gui {

std::vector<LabelDescription> labels_from_bundle(const std::vector<models::LabelInfo>& labels) {
  std::vector<LabelDescription> out;
  for (const models::LabelInfo& l : labels) {
    if (l.value == 0) continue;
    LabelDescription d;
    d.value = static_cast<std::int16_t>(l.value);
    d.name = l.name;
    d.color = l.color;
    out.push_back(d);
  }
  return out;
}

LabelDescription default_label_description(std::int16_t value) {
  static constexpr std::array<std::array<std::uint8_t, 3>, 12> kPalette{{
      {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}, {0, 255, 255}, {255, 0, 255},
      {255, 239, 213}, {0, 0, 205}, {205, 133, 63}, {210, 180, 140}, {102, 205, 170}, {0, 0, 128},
  }};
  LabelDescription d;
  d.value = value;
  d.name = "Label " + std::to_string(value);
  const int slot = ((value - 1) % 12 + 12) % 12;
  d.color = kPalette[static_cast<std::size_t>(slot)];
  return d;
}

}  // namespace medseg::gui
