#pragma once
// Outputs that a reader, a crash or kill -9 never sees half-written: each is
// produced under a temporary name in the target's folder and renamed into
// place (rename within one file system is atomic). Every writer of medseg
// (label maps, reports, logs, checkpoints, caches, bundles) goes through
// here, so every temporary is named alike: ".NAME.partial-PID-N".
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace medseg::core {

/// Throws IoError "cannot write 'TARGET': REASON" (the one wording of write
/// failures).
[[noreturn]] void fail_to_write(const std::filesystem::path& target, const std::string& reason);

/// A hidden sibling of `target` no other writer in this or another process
/// uses at the same time: FOLDER/.STEM.partial-PID-N + `keep_extension`,
/// where `keep_extension` (e.g. ".nii.gz", so that ITK still recognises the
/// format) is removed from the file name to form STEM when it ends it.
std::filesystem::path temporary_sibling(const std::filesystem::path& target, std::string_view keep_extension = {});

/// Calls `write(temporary)`, which must create that file, then renames it
/// to `target`. On any exception the temporary is removed and the exception
/// propagates; `target` is untouched. Throws IoError when the rename fails.
void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(const std::filesystem::path&)>& write,
                           std::string_view keep_extension = {});

/// `text` (or any bytes) as the whole content of `target`. Throws IoError.
void write_text_file_atomically(const std::filesystem::path& target, std::string_view text);

/// Calls `fill(folder)` on a new, empty temporary folder, then puts it at
/// `target`, replacing any folder there: on Linux the two are swapped in one
/// step (renameat2 RENAME_EXCHANGE); elsewhere the old one is moved aside
/// first (for a moment there is none, but never half of one). Creates
/// `target`'s parent folders. Throws IoError; the temporary never remains.
void write_folder_atomically(const std::filesystem::path& target,
                             const std::function<void(const std::filesystem::path&)>& fill);

/// Removes what writers killed mid-write (kill -9, power cut) left in
/// `folder` (not its subfolders): the temporaries named ".NAME.partial-PID-N…"
/// whose process PID is no longer running. A live process's temporaries
/// (another medseg writing there now) are kept. Returns how many were
/// removed; never throws (a temporary that cannot be removed stays).
int remove_stale_temporaries(const std::filesystem::path& folder);

/// Test hook for the kill -9 soak (docs/reliability.md, "Kill -9"): with the
/// environment variable MEDSEG_TEST_PAUSE_WRITE=NAME[@N][:STAGE], the N-th
/// atomic write (default: every one) in this process of a target whose file
/// name is NAME ("*SUFFIX": ends with SUFFIX) stops inside its write window, prints
/// "medseg: test hook: paused at STAGE of 'TARGET' (temporary 'TEMP')" on
/// stderr and sleeps MEDSEG_TEST_PAUSE_SECONDS (default 30) before going on,
/// for a test to kill it there. STAGE (default: every stage) is one of
///   half     a file's temporary holds the first half of its bytes
///            (write_text_file_atomically and what is written through it)
///   full     a file's temporary is complete, not yet renamed
///   filled   a folder's temporary is complete, not yet swapped in
///   swapped  the new folder is in place, the old one (under the
///            temporary's name) not yet removed
/// Unset (always in production), it costs one getenv per process.
class TestWritePause {
 public:
  explicit TestWritePause(const std::filesystem::path& target);
  /// Sleeps when this write and `stage` are the ones asked for.
  void at(std::string_view stage, const std::filesystem::path& temporary) const;

 private:
  std::filesystem::path target_;
  bool active_ = false;
};

}  // namespace medseg::core
