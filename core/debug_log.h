#pragma once
// Diagnostics meant for developers, not users: the text third-party
// libraries print on their own (ITK's warnings, VNL's SVD complaints,
// GDCM's traces, a crashed DICOM reader's last words). Users get medseg's
// one-line errors; this text goes to stderr only when the environment sets
// MEDSEG_DEBUG (to anything but "0" or empty), and is dropped otherwise.
#include <string_view>

namespace medseg::core {

/// True when MEDSEG_DEBUG asks for debug output (read once per process).
bool debug_log_enabled();

/// Writes "medseg: debug: SOURCE: TEXT" to the debug log's file descriptor
/// (stderr) when debug_log_enabled(); one line per line of `text`, empty
/// lines dropped.
void debug_log(std::string_view source, std::string_view text);

/// Where debug_log writes: the real stderr while a reader has file
/// descriptor 2 redirected to collect library output.
void set_debug_log_fd(int fd);

}  // namespace medseg::core
