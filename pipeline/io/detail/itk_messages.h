#pragma once
// Internal to pipeline: turning ITK's multi-line exception text into the
// one-line messages medseg promises, and keeping ITK's warning window quiet.
#include <itkMacro.h>

#include <string>

namespace medseg::pipeline::itk_messages {

/// The exception's description on one line, without ITK's file/line banner.
std::string one_line(const itk::ExceptionObject& e);

/// Stops ITK from printing warnings to stderr (our errors say what matters).
void silence_itk_warnings();

}  // namespace medseg::pipeline::itk_messages
