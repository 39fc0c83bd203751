#pragma once
// Segment colours in DICOM: Recommended Display CIELab Value (0062,000D)
// holds CIELab (D50 white, as the ICC profile connection space) scaled to
// unsigned 16-bit: L* 0..100 -> 0..0xFFFF, a* and b* -128..127 -> 0..0xFFFF
// (PS3.3 C.10.7.1.1). Viewers show bundle colours, given as 8-bit sRGB.
#include <array>
#include <cstdint>

namespace medseg::pipeline {

/// 8-bit sRGB -> DICOM's scaled CIELab (L, a, b), each 0..65535.
std::array<std::uint16_t, 3> srgb_to_dicom_lab(const std::array<std::uint8_t, 3>& rgb);

/// DICOM's scaled CIELab -> 8-bit sRGB (rounded, clamped to the gamut).
std::array<std::uint8_t, 3> dicom_lab_to_srgb(const std::array<std::uint16_t, 3>& lab);

}  // namespace medseg::pipeline
