#pragma once
// Internal to pipeline/io (volume_reader.cpp): the MetaImage header fields
// ITK 5.2's MetaIO reads without a bound. With `NDims = -1` MetaIO reads
// DimSize as a list of 2^32 - 1 numbers from a stream that has run dry and
// never returns, and a numbered ElementDataFile pattern with a step of 0
// divides by zero (both found by fuzz/targets/fuzz_metaimage.cpp), so the
// header is looked at before ITK is handed the file.
#include <filesystem>

namespace medseg::pipeline::detail {

/// Throws IoError naming `path` when its MetaImage header (the text up to
/// ElementDataFile) gives an NDims that is not a whole number from 1 to 10,
/// or an ElementDataFile that is a numbered file pattern ("%").
void check_metaimage_header(const std::filesystem::path& path);

}  // namespace medseg::pipeline::detail
