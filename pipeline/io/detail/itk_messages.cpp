#include "pipeline/io/detail/itk_messages.h"

#include <gdcmTrace.h>
#include <itkObject.h>

namespace medseg::pipeline::itk_messages {

std::string one_line(const itk::ExceptionObject& e) {
  std::string text = e.GetDescription();
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  const auto first = text.find_first_not_of(' ');
  const auto last = text.find_last_not_of(' ');
  if (first == std::string::npos) return "unreadable (ITK gave no reason)";
  text = text.substr(first, last - first + 1);
  const std::string banner = "ITK ERROR: ";
  if (text.compare(0, banner.size(), banner) == 0) text = text.substr(banner.size());
  return text;
}

void silence_itk_warnings() {
  itk::Object::GlobalWarningDisplayOff();
  // GDCM prints its own warnings (e.g. "No PhotometricInterpretation found")
  // straight to stderr.
  gdcm::Trace::WarningOff();
  gdcm::Trace::DebugOff();
  gdcm::Trace::ErrorOff();  // e.g. "position is not unique": we report our own error
}

}  // namespace medseg::pipeline::itk_messages
