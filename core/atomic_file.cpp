#include "core/atomic_file.h"

#include <fcntl.h>  // AT_FDCWD
#include <unistd.h>

#include <atomic>
#include <cstdio>  // renameat2
#include <fstream>
#include <string>
#include <system_error>

#include "core/error.h"

namespace medseg::core {
namespace fs = std::filesystem;
namespace {

/// `path` without a trailing separator ("out/bundle/" -> "out/bundle") and
/// with a parent, so that a sibling can be formed.
fs::path normalized(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  if (!p.has_parent_path()) p = fs::path(".") / p;
  return p;
}

void replace_directory(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(tmp, target);
    return;
  }
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(tmp, ec);  // now holds the old folder
    return;
  }
#endif
  const fs::path aside = temporary_sibling(target, {}).concat(".old");
  fs::rename(target, aside);
  try {
    fs::rename(tmp, target);
  } catch (...) {
    fs::rename(aside, target, ec);
    throw;
  }
  fs::remove_all(aside, ec);
}

}  // namespace

void fail_to_write(const fs::path& target, const std::string& reason) {
  throw IoError("cannot write '" + target.string() + "': " + reason);
}

fs::path temporary_sibling(const fs::path& target, std::string_view keep_extension) {
  static std::atomic<unsigned> counter{0};
  const fs::path t = normalized(target);
  std::string name = t.filename().string();
  const std::string ext(keep_extension);
  if (!ext.empty() && name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    name.resize(name.size() - ext.size());
  }
  return t.parent_path() /
         ("." + name + ".partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext);
}

void write_file_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write,
                           std::string_view keep_extension) {
  const fs::path temp = temporary_sibling(target, keep_extension);
  std::error_code ec;
  try {
    write(temp);
  } catch (...) {
    fs::remove(temp, ec);
    throw;
  }
  fs::rename(temp, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    fail_to_write(target, "could not move the finished file into place: " + reason);
  }
}

void write_text_file_atomically(const fs::path& target, std::string_view text) {
  write_file_atomically(target, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) fail_to_write(target, "disk full or not writable");
  });
}

void write_folder_atomically(const fs::path& target, const std::function<void(const fs::path&)>& fill) {
  const fs::path final_path = normalized(target);
  const fs::path tmp = temporary_sibling(final_path);
  std::error_code ec;
  try {
    fs::create_directories(final_path.parent_path());
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    fill(tmp);
    replace_directory(tmp, final_path);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail_to_write(target, e.code().message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace medseg::core
