#include "pipeline/pacs/detail/tls.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include "core/error.h"

namespace medseg::pipeline::pacs::detail {

namespace {

void check(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw ConfigError("node.tls: " + what + ": " + c.text());
}

}  // namespace

TlsLayer::TlsLayer(const TlsConfig& config, bool acceptor)
    : layer_(std::make_unique<DcmTLSTransportLayer>(acceptor ? NET_ACCEPTOR : NET_REQUESTOR, nullptr, OFTrue)) {
  check(layer_->setTLSProfile(TSP_Profile_BCP195), "TLS profile");
  check(layer_->activateCipherSuites(), "cipher suites");
  check(layer_->setPrivateKeyFile(config.private_key.c_str(), DCF_Filetype_PEM),
        "cannot load private key '" + config.private_key.string() + "'");
  check(layer_->setCertificateFile(config.certificate.c_str(), DCF_Filetype_PEM),
        "cannot load certificate '" + config.certificate.string() + "'");
  if (!layer_->checkPrivateKeyMatchesCertificate()) {
    throw ConfigError("node.tls: private key '" + config.private_key.string() + "' does not match certificate '" +
                      config.certificate.string() + "'");
  }
  for (const auto& t : config.trusted_certificates) {
    check(layer_->addTrustedCertificateFile(t.c_str(), DCF_Filetype_PEM),
          "cannot load trusted certificate '" + t.string() + "'");
  }
  layer_->setCertificateVerification(DCV_requireCertificate);
}

TlsLayer::~TlsLayer() = default;

DcmTransportLayer* TlsLayer::layer() { return layer_.get(); }

}  // namespace medseg::pipeline::pacs::detail
