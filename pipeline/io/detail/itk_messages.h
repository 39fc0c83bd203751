#pragma once
// Internal to pipeline: turning ITK's multi-line exception text into the
// one-line messages medseg promises, and keeping the text ITK, VNL and GDCM
// print on their own off the user's stderr (it goes to core::debug_log).
#include <itkMacro.h>

#include <string>

namespace medseg::pipeline::itk_messages {

/// The exception's description on one line, without ITK's file/line banner.
std::string one_line(const itk::ExceptionObject& e);

/// Sends ITK's output window (warnings) and GDCM's traces to the debug log
/// instead of stderr. Idempotent; every reader entry point calls it.
void silence_itk_warnings();

/// While alive, whatever anything writes to stderr (file descriptor 2:
/// VNL's std::cerr "vnl_svd.hxx: suspicious return value (3) from SVDC" and
/// matrix on a degenerate NIfTI orientation, niftilib's fprintf "** ERROR:
/// nifti_convert_nhdr2nim: bad datatype") is collected and handed to the
/// debug log when the last capture ends. Nestable and usable from several
/// threads; process-wide like stderr itself, so another thread's stderr
/// output during a read lands in the debug log too (medseg's CLI prints its
/// progress from the reading thread, between reads).
class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
};

}  // namespace medseg::pipeline::itk_messages
