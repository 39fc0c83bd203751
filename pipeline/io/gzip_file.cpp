#include "pipeline/io/gzip_file.h"

#include <ATen/ATen.h>
#include <libdeflate.h>

#include <fstream>
#include <memory>

#include "core/error.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

// The whole file in a tensor (large tensors get huge pages; see
// models/allocator.h), or nothing if it cannot be read.
std::optional<at::Tensor> slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  const auto size = static_cast<std::int64_t>(in.tellg());
  at::Tensor bytes = at::empty({size}, at::kByte);
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data_ptr()), static_cast<std::streamsize>(size))) return std::nullopt;
  return bytes;
}

}  // namespace

std::optional<at::Tensor> inflate_gzip_file(const fs::path& path, std::uint64_t bytes) {
  const std::optional<at::Tensor> compressed = slurp(path);
  if (!compressed) return std::nullopt;
  const auto compressed_size = static_cast<std::uint64_t>(compressed->numel());
  at::Tensor out = at::empty({static_cast<std::int64_t>(bytes)}, at::kByte);
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> inflater(
      libdeflate_alloc_decompressor(), &libdeflate_free_decompressor);
  if (!inflater) return std::nullopt;
  const auto* src = compressed->data_ptr<std::uint8_t>();
  auto* dst = out.data_ptr<std::uint8_t>();
  std::uint64_t consumed = 0, produced = 0;
  while (consumed < compressed_size) {  // one gzip member after another
    std::size_t in_used = 0, out_used = 0;
    const libdeflate_result r = libdeflate_gzip_decompress_ex(inflater.get(), src + consumed, compressed_size - consumed,
                                                              dst + produced, bytes - produced, &in_used, &out_used);
    if (r != LIBDEFLATE_SUCCESS) return std::nullopt;
    consumed += in_used;
    produced += out_used;
  }
  if (produced != bytes) return std::nullopt;
  return out;
}

void gzip_file(const fs::path& from, const fs::path& to, int level) {
  const auto fail = [&](const std::string& reason) {
    throw IoError("cannot write '" + to.string() + "': " + reason);
  };
  const std::optional<at::Tensor> plain = slurp(from);
  if (!plain) fail("cannot read back '" + from.string() + "'");
  std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> deflater(
      libdeflate_alloc_compressor(level), &libdeflate_free_compressor);
  if (!deflater) fail("cannot set up gzip compression at level " + std::to_string(level));
  const auto size = static_cast<std::size_t>(plain->numel());
  at::Tensor packed =
      at::empty({static_cast<std::int64_t>(libdeflate_gzip_compress_bound(deflater.get(), size))}, at::kByte);
  const std::size_t packed_size = libdeflate_gzip_compress(deflater.get(), plain->data_ptr(), size,
                                                           packed.data_ptr(), static_cast<std::size_t>(packed.numel()));
  if (packed_size == 0) fail("gzip compression failed");
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(packed.data_ptr()), static_cast<std::streamsize>(packed_size));
  out.close();
  if (!out) fail("write failed (disk full or no permission?)");
}

}  // namespace medseg::pipeline
