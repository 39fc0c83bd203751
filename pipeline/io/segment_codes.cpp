#include "pipeline/io/segment_codes.h"

#include <algorithm>
#include <cctype>

namespace medseg::pipeline {
namespace {

const CodedConcept kTissue{"85756007", "SCT", "Tissue"};
const CodedConcept kAnatomicalStructure{"123037004", "SCT", "Anatomical Structure"};

struct KnownLabel {
  const char* name;
  CodedConcept category;
  CodedConcept type;
};

// The bundled models' labels (data_samples/models: ct_head bone/tissue,
// brain_mri_t1 brain) and close synonyms.
const KnownLabel kKnown[] = {
    {"bone", kTissue, {"272673000", "SCT", "Bone"}},
    {"tissue", kTissue, {"87784001", "SCT", "Soft tissue"}},
    {"soft tissue", kTissue, {"87784001", "SCT", "Soft tissue"}},
    {"soft_tissue", kTissue, {"87784001", "SCT", "Soft tissue"}},
    {"brain", kAnatomicalStructure, {"12738006", "SCT", "Brain"}},
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

SegmentCodes segment_codes_for(const std::string& label_name) {
  const std::string name = lower(label_name);
  for (const auto& k : kKnown) {
    if (name == k.name) return {k.category, k.type, true};
  }
  return {kTissue, kTissue, false};
}

}  // namespace medseg::pipeline
