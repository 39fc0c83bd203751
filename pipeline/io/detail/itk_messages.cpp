#include "pipeline/io/detail/itk_messages.h"

#include <gdcmTrace.h>
#include <itkObject.h>
#include <itkObjectFactory.h>
#include <itkOutputWindow.h>

#include <iostream>
#include <mutex>
#include <streambuf>

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

// An unbuffered streambuf: every write takes the lock, so threads that
// print at once do not corrupt the text.
class CollectingBuf : public std::streambuf {
 public:
  std::string take() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    out.swap(text_);
    return out;
  }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    std::lock_guard<std::mutex> lock(mutex_);
    text_ += traits_type::to_char_type(c);
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

std::mutex capture_mutex;
int capture_depth = 0;
std::streambuf* saved_cerr = nullptr;

CollectingBuf& collected() {
  static CollectingBuf* buf = new CollectingBuf;  // never destroyed: std::cerr may point at it late
  return *buf;
}

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

StderrCapture::StderrCapture() {
  std::lock_guard<std::mutex> lock(capture_mutex);
  if (capture_depth++ == 0) saved_cerr = std::cerr.rdbuf(&collected());
}

StderrCapture::~StderrCapture() {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(capture_mutex);
    if (--capture_depth == 0) {
      std::cerr.rdbuf(saved_cerr);
      text = collected().take();
    }
  }
  if (!text.empty()) core::debug_log("ITK/VNL/GDCM", text);
}

}  // namespace medseg::pipeline::itk_messages
