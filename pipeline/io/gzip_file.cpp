#include "pipeline/io/gzip_file.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/// A file's bytes in an anonymous mapping of their own. Unlike a tensor,
/// whose memory the programs' allocators keep for reuse once it is freed
/// (models/allocator.h), the mapping leaves the resident set when it is
/// unmapped, so the compressed bytes do not add to the peak while the caller
/// converts the inflated ones (a 512x512x300 CT: 83 MB less). Read, not
/// mapped from the file: a file truncated by another process meanwhile is
/// then a short read, not a SIGBUS.
class FileBytes {
 public:
  explicit FileBytes(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      const auto size = static_cast<std::size_t>(st.st_size);
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED) {
        data_ = static_cast<std::uint8_t*>(p);
        capacity_ = size;
        while (size_ < size) {
          const ssize_t n = ::read(fd, data_ + size_, size - size_);
          if (n <= 0) break;
          size_ += static_cast<std::size_t>(n);
        }
      }
    }
    ::close(fd);
  }
  ~FileBytes() {
    if (data_ != nullptr) ::munmap(data_, capacity_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

}  // namespace

std::optional<at::Tensor> inflate_gzip_file(const fs::path& path, std::uint64_t bytes) {
  const FileBytes compressed(path);
  if (compressed.size() == 0) return std::nullopt;
  const std::uint64_t compressed_size = compressed.size();
  at::Tensor out = at::empty({static_cast<std::int64_t>(bytes)}, at::kByte);
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> inflater(
      libdeflate_alloc_decompressor(), &libdeflate_free_decompressor);
  if (!inflater) return std::nullopt;
  const std::uint8_t* src = compressed.data();
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
