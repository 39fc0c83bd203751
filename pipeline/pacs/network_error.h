#pragma once
// A DICOM network operation failed: the peer refused or dropped the
// association, did not answer in time, or answered with an error status.
// Not bad input, so it is no medseg::Error (exit code 2) but a failure (the
// CLI exits with 1); `medseg serve` logs it and retries where that makes
// sense.
#include <stdexcept>

namespace medseg::pipeline::pacs {

class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace medseg::pipeline::pacs
