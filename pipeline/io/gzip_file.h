#pragma once
// Whole-file gzip with libdeflate: 2-3x faster than zlib's streaming API in
// both directions, at the price of holding the file in memory (fine for one
// volume). Used for .nii.gz, where ITK's own zlib path is the slow part of
// reading and writing (and ITK 5.2 ignores the compression level).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>

namespace medseg::pipeline {

/// The decompressed content of a gzip file (several members allowed) as a
/// uint8 tensor, when it is exactly `bytes` long; nothing if the file is
/// not gzip, is corrupt, or decompresses to another length.
std::optional<at::Tensor> inflate_gzip_file(const std::filesystem::path& path, std::uint64_t bytes);

/// Writes `from`, gzip-compressed at `level` (1-12), to `to`. Throws
/// IoError naming `to` when it cannot be written completely.
void gzip_file(const std::filesystem::path& from, const std::filesystem::path& to, int level = 6);

}  // namespace medseg::pipeline
