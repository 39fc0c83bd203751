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

/// While alive, whatever is written to std::cerr (VNL prints e.g.
/// "vnl_svd.hxx: suspicious return value (3) from SVDC" and the matrix
/// there, on a degenerate NIfTI orientation) is collected and handed to the
/// debug log when the last capture ends. Nestable and usable from several
/// threads at once; process-wide, like std::cerr itself.
class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
};

}  // namespace medseg::pipeline::itk_messages
