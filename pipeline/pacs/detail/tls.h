#pragma once
// DICOM TLS (DCMTK dcmtls over OpenSSL) for the SCP and the SCUs, from
// node.tls. Included by the DCMTK-based sources of pipeline/pacs only.
#include <memory>

#include "pipeline/config/node_config.h"

class DcmTransportLayer;
class DcmTLSTransportLayer;

namespace medseg::pipeline::pacs::detail {

class TlsLayer {
 public:
  /// Loads our certificate and private key and the trusted certificates;
  /// the peer must present a certificate they sign (both directions).
  /// Profile: BCP 195 (TLS 1.2+). Throws ConfigError naming the file.
  TlsLayer(const TlsConfig& config, bool acceptor);
  ~TlsLayer();
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;
  DcmTransportLayer* layer();

 private:
  std::unique_ptr<DcmTLSTransportLayer> layer_;
};

}  // namespace medseg::pipeline::pacs::detail
