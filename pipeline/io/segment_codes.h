#pragma once
// What a segment is, as codes a PACS or viewer understands: DICOM SEG wants a
// Segmented Property Category and Type for every segment (PS3.3 C.8.20.4;
// CID 7150 / 7151, SNOMED CT). Bundles name their labels in free text, so
// the known names are mapped here and any other gets a generic code.
#include <string>

namespace medseg::pipeline {

/// One coded concept: (code value, coding scheme designator, code meaning).
struct CodedConcept {
  std::string value;
  std::string scheme;
  std::string meaning;
};

struct SegmentCodes {
  CodedConcept category;
  CodedConcept type;
  /// False when `name` was not known and the generic codes were given.
  bool known = false;
};

/// The codes for a bundle label name (case-insensitive; "brain", "bone",
/// "tissue", "soft tissue", ...). Unknown names get category and type
/// SCT 85756007 "Tissue", the generic code documented in docs/dicom.md.
SegmentCodes segment_codes_for(const std::string& label_name);

}  // namespace medseg::pipeline
