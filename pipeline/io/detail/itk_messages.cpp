#include "pipeline/io/detail/itk_messages.h"

#include <gdcmTrace.h>
#include <itkObject.h>
#include <itkObjectFactory.h>
#include <itkOutputWindow.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

#include "core/debug_log.h"

namespace medseg::pipeline::itk_messages {
namespace {

// ITK's warnings and errors ("WARNING: In ... itkNiftiImageIO.cxx ...")
// reach the debug log instead of stderr.
class DebugLogOutputWindow : public itk::OutputWindow {
 public:
  ITK_DISALLOW_COPY_AND_MOVE(DebugLogOutputWindow);
  using Self = DebugLogOutputWindow;
  using Superclass = itk::OutputWindow;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self)

  void DisplayText(const char* text) override { core::debug_log("ITK", text != nullptr ? text : ""); }

 protected:
  DebugLogOutputWindow() = default;
};

std::mutex capture_mutex;
int capture_depth = 0;
int saved_stderr = -1;
int collected = -1;  // an anonymous file standing in for stderr

}  // namespace

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
  static std::once_flag once;
  std::call_once(once, [] {
    itk::OutputWindow::SetInstance(DebugLogOutputWindow::New());
    itk::Object::SetGlobalWarningDisplay(core::debug_log_enabled());
  });
  // GDCM prints its own warnings (e.g. "No PhotometricInterpretation found")
  // and errors (e.g. "position is not unique": we report our own) straight
  // to std::cerr: only on request, and then inside a capture.
  const bool debug = core::debug_log_enabled();
  gdcm::Trace::SetWarning(debug);
  gdcm::Trace::SetDebug(false);
  gdcm::Trace::SetError(debug);
}

// At the file-descriptor level: niftilib prints "** ERROR: ..." with
// fprintf(stderr), VNL with std::cerr, GDCM's asserts with write(2).
StderrCapture::StderrCapture() {
  std::lock_guard<std::mutex> lock(capture_mutex);
  if (capture_depth++ > 0) return;
  std::cerr.flush();
  std::fflush(stderr);
  collected = ::memfd_create("medseg-library-stderr", MFD_CLOEXEC);
  saved_stderr = collected < 0 ? -1 : ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (saved_stderr < 0 || ::dup2(collected, STDERR_FILENO) < 0) {
    // Without a descriptor to spare, library text stays on stderr.
    if (saved_stderr >= 0) ::close(saved_stderr);
    if (collected >= 0) ::close(collected);
    saved_stderr = collected = -1;
    return;
  }
  core::set_debug_log_fd(saved_stderr);
}

StderrCapture::~StderrCapture() {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(capture_mutex);
    if (--capture_depth > 0 || collected < 0) return;
    std::cerr.flush();
    std::fflush(stderr);
    ::dup2(saved_stderr, STDERR_FILENO);
    core::set_debug_log_fd(STDERR_FILENO);
    ::close(saved_stderr);
    char buffer[4096];
    ::lseek(collected, 0, SEEK_SET);
    for (ssize_t n; (n = ::read(collected, buffer, sizeof(buffer))) > 0 && text.size() < (1 << 20);) {
      text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(collected);
    saved_stderr = collected = -1;
  }
  if (!text.empty()) core::debug_log("ITK/VNL/GDCM", text);
}

}  // namespace medseg::pipeline::itk_messages
