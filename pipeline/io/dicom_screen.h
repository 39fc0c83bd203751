#pragma once
// DICOM files that Debian's GDCM cannot be handed: it aborts the whole
// process (a failed assert(), not an exception) on them. Found by running
// every DICOM test file of pydicom and nibabel through `medseg info`: a
// single-frame RT Dose without Number of Frames (0028,0008) aborts in
// gdcm::Attribute while GDCM reads its geometry. An abort would end a batch
// and lose every case after it, so such files are screened out, by their
// header alone, before GDCM or ITK reads them as images.
#include <string>

namespace medseg::pipeline {

/// Why GDCM must not read `file` as an image; "" when the file looks safe or
/// is not DICOM at all (then the usual readers report what is wrong).
std::string gdcm_crash_reason(const std::string& file);

}  // namespace medseg::pipeline
