// Real data: the AAL brain atlas from Debian's mricron-data (a RAS NIfTI,
// 181 x 217 x 181, 1 mm), read with the pipeline's reader and shown through
// SliceGeometry. The expectations are anatomy, independent of any code:
// regions named *_L are in the patient's left hemisphere, frontal lobes are
// anterior to occipital lobes, the superior parietal gyri are superior to
// the cerebellum. Skipped when the package is not installed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "app/gui/logic/slice_geometry.h"
#include "pipeline/io/volume_reader.h"

namespace medseg::gui {
namespace {

const std::filesystem::path kAtlasDir = "/usr/share/mricron/templates";

// Label value -> region name, from aal.nii.txt ("1 Precentral_L 2001").
std::map<int, std::string> aal_names() {
  std::map<int, std::string> names;
  std::ifstream in(kAtlasDir / "aal.nii.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int value = 0;
    std::string name;
    if (fields >> value >> name) names[value] = name;
  }
  return names;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Mean screen position (u, v) of a group of regions over every slice of a
// view, as the view shows them.
struct Group {
  double u = 0, v = 0;
  std::int64_t n = 0;
  void add(std::int64_t pu, std::int64_t pv) {
    u += static_cast<double>(pu);
    v += static_cast<double>(pv);
    ++n;
  }
  double mean_u() const { return u / static_cast<double>(n); }
  double mean_v() const { return v / static_cast<double>(n); }
};

std::map<std::string, Group> groups_in_view(const SliceGeometry& g, ViewKind kind, const at::Tensor& labels,
                                            const std::map<int, std::string>& names) {
  std::vector<std::string> group_of(256);
  std::vector<std::string> side_of(256);
  for (const auto& [value, name] : names) {
    if (value <= 0 || value > 255) continue;
    if (starts_with(name, "Frontal")) group_of[value] = "frontal";
    if (starts_with(name, "Occipital")) group_of[value] = "occipital";
    if (starts_with(name, "Parietal_Sup")) group_of[value] = "parietal_sup";
    if (starts_with(name, "Cerebelum")) group_of[value] = "cerebellum";  // AAL's spelling
    if (ends_with(name, "_L")) side_of[value] = "left";
    if (ends_with(name, "_R")) side_of[value] = "right";
  }
  const ViewMapping& m = g.view(kind);
  std::vector<std::int16_t> slice(static_cast<std::size_t>(m.width * m.height));
  std::map<std::string, Group> out;
  for (std::int64_t s = 0; s < m.slice_count; ++s) {
    g.extract_slice(kind, s, labels.data_ptr<std::int16_t>(), slice.data());
    for (std::int64_t v = 0; v < m.height; ++v) {
      for (std::int64_t u = 0; u < m.width; ++u) {
        const int value = slice[static_cast<std::size_t>(v * m.width + u)];
        if (value <= 0 || value > 255) continue;
        if (!group_of[value].empty()) out[group_of[value]].add(u, v);
        if (!side_of[value].empty()) out[side_of[value]].add(u, v);
      }
    }
  }
  return out;
}

TEST(AtlasOrientation, AalRegionsAppearOnTheirAnatomicalSideInEveryView) {
  // scripts/setup.sh installs mricron-data: a missing atlas is a failure.
  ASSERT_TRUE(std::filesystem::exists(kAtlasDir / "aal.nii.gz") && std::filesystem::exists(kAtlasDir / "aal.nii.txt"))
      << "missing " << kAtlasDir << "/aal.nii.gz or aal.nii.txt (package mricron-data; run scripts/setup.sh)";
  const pipeline::Volume atlas = pipeline::read_label_map(kAtlasDir / "aal.nii.gz");
  const auto names = aal_names();
  ASSERT_GT(names.size(), 100u);
  for (DisplayConvention convention : {DisplayConvention::kRadiological, DisplayConvention::kNeurological}) {
    const bool radiological = convention == DisplayConvention::kRadiological;
    SCOPED_TRACE(radiological ? "radiological" : "neurological");
    const SliceGeometry g(atlas.geometry, convention);
    EXPECT_EQ(g.orientation_code(), "RAS") << "the file is stored RAS (nibabel: aff2axcodes)";
    {
      auto a = groups_in_view(g, ViewKind::kAxial, atlas.data, names);
      ASSERT_GT(a["left"].n, 1000);
      ASSERT_GT(a["right"].n, 1000);
      // Patient's left on the screen's right (radiological), else left.
      EXPECT_EQ(a["left"].mean_u() > a["right"].mean_u(), radiological);
      EXPECT_LT(a["frontal"].mean_v(), a["occipital"].mean_v()) << "anterior up";
    }
    {
      auto c = groups_in_view(g, ViewKind::kCoronal, atlas.data, names);
      EXPECT_EQ(c["left"].mean_u() > c["right"].mean_u(), radiological);
      EXPECT_LT(c["parietal_sup"].mean_v(), c["cerebellum"].mean_v()) << "superior up";
    }
    {
      auto s = groups_in_view(g, ViewKind::kSagittal, atlas.data, names);
      EXPECT_LT(s["frontal"].mean_u(), s["occipital"].mean_u()) << "anterior on the left";
      EXPECT_LT(s["parietal_sup"].mean_v(), s["cerebellum"].mean_v()) << "superior up";
    }
  }
}

}  // namespace
}  // namespace medseg::gui
