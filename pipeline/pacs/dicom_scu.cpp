#include "pipeline/pacs/dicom_scu.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/io/detail/dcmtk_util.h"
#include "pipeline/pacs/detail/tls.h"
#include "pipeline/pacs/network_error.h"

namespace medseg::pipeline::pacs {
namespace fs = std::filesystem;

namespace {

std::string hex_status(Uint16 status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%04X", static_cast<unsigned>(status));
  return text;
}

OFList<OFString> uncompressed_syntaxes() {
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  ts.push_back(UID_LittleEndianImplicitTransferSyntax);
  return ts;
}

/// A DcmSCU set up from ScuOptions, with TLS when asked for.
class Scu : public DcmSCU {
 public:
  explicit Scu(const ScuOptions& o) : options_(o) {
    dcmtk::quiet_logging();
    setAETitle(o.calling_ae.c_str());
    setPeerHostName(o.remote.host.c_str());
    setPeerPort(static_cast<Uint16>(o.remote.port));
    setPeerAETitle(o.remote.ae_title.c_str());
    setACSETimeout(static_cast<Uint32>(o.timeouts.association));
    setDIMSETimeout(static_cast<Uint32>(o.timeouts.dimse));
    setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    setConnectionTimeout(o.timeouts.connect);
    setMaxReceivePDULength(65536);
  }

  void connect(const std::string& what) {
    OFCondition c = initNetwork();
    if (c.good() && options_.remote.tls) {
      tls_ = std::make_unique<detail::TlsLayer>(options_.tls, /*acceptor=*/false);
      c = useSecureConnection(tls_->layer());
    }
    if (c.good()) c = negotiateAssociation();
    if (c.bad()) fail(what, std::string("no association: ") + c.text());
  }

  [[noreturn]] void fail(const std::string& what, const std::string& reason) {
    if (isConnected()) abortAssociation();
    throw NetworkError(what + " " + describe(options_.remote) + " failed: " + reason);
  }

  void release() {
    if (isConnected()) releaseAssociation();
  }

  ~Scu() override {
    if (isConnected()) abortAssociation();
  }

  // C-GET: each C-STORE sub-operation's data set arrives here (in memory).
  RetrievedSink sink;
  fs::path incoming;
  RetrieveCounts counts;

 protected:
  OFCondition handleSTORERequest(const T_ASC_PresentationContextID, DcmDataset* dataset, OFBool&,
                                 Uint16& status) override {
    static std::atomic<unsigned long> counter{0};
    const fs::path temp =
        incoming / (".retrieved-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dcm");
    std::string reason;
    status = STATUS_Success;
    try {
      if (dataset == nullptr) throw IoError("no data set");
      DcmFileFormat file(dataset);
      const OFCondition c =
          file.saveFile(temp.c_str(), dataset->getOriginalXfer(), EET_ExplicitLength, EGL_recalcGL, EPD_noChange);
      if (c.bad()) {
        status = STATUS_STORE_Refused_OutOfResources;
        throw IoError(std::string("cannot write '") + temp.string() + "': " + c.text());
      }
      const InstanceHeader header = read_received_instance(temp);
      reason = sink(temp, header);
      if (!reason.empty()) status = STATUS_STORE_Refused_OutOfResources;
    } catch (const std::exception& e) {
      if (status == STATUS_Success) status = STATUS_STORE_Error_CannotUnderstand;
      reason = core::one_line(e);
    }
    if (status == STATUS_Success) {
      ++counts.stored;
    } else {
      ++counts.refused;
      std::error_code ec;
      fs::remove(temp, ec);
    }
    return EC_Normal;
  }

 private:
  ScuOptions options_;
  std::unique_ptr<detail::TlsLayer> tls_;
};

void check_query_options(const std::string& study_uid, const std::string& accession) {
  if (study_uid.empty() == accession.empty()) {
    throw ConfigError("give either a Study Instance UID or an accession number");
  }
  if (!study_uid.empty() && !is_valid_uid(study_uid)) throw ConfigError("'" + study_uid + "' is not a valid UID");
  if (accession.size() > 16 || accession.find_first_of("*?\\") != std::string::npos) {
    throw ConfigError("accession number '" + accession + "' must be at most 16 characters without wildcards");
  }
}

}  // namespace

std::string describe(const RemoteAe& remote) {
  return remote.ae_title + "@" + remote.host + ":" + std::to_string(remote.port);
}

void echo(const ScuOptions& options) {
  Scu scu(options);
  scu.addPresentationContext(UID_VerificationSOPClass, uncompressed_syntaxes());
  scu.connect("C-ECHO to");
  const OFCondition c = scu.sendECHORequest(0);
  if (c.bad()) scu.fail("C-ECHO to", c.text());
  scu.release();
}

void store_files(const ScuOptions& options, const std::vector<fs::path>& files) {
  if (files.empty()) return;
  // One presentation context per SOP class, in each file's own syntax plus
  // the uncompressed ones.
  std::map<std::string, std::set<std::string>> contexts;
  for (const auto& f : files) {
    DcmFileFormat ff;
    const OFCondition c = ff.loadFile(f.c_str(), EXS_Unknown, EGL_noChange, 4096);
    if (c.bad()) throw IoError("cannot read '" + f.string() + "': " + c.text());
    OFString sop_class;
    ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
    if (sop_class.empty()) throw IoError("cannot send '" + f.string() + "': no SOP Class UID");
    const DcmXfer xfer(ff.getDataset()->getOriginalXfer());
    contexts[sop_class.c_str()].insert(xfer.getXferID());
  }
  Scu scu(options);
  for (const auto& [sop_class, syntaxes] : contexts) {
    OFList<OFString> ts;
    for (const auto& s : syntaxes) ts.push_back(s.c_str());
    for (const auto& s : uncompressed_syntaxes()) {
      if (syntaxes.count(s.c_str()) == 0) ts.push_back(s);
    }
    scu.addPresentationContext(sop_class.c_str(), ts);
  }
  scu.connect("C-STORE to");
  for (const auto& f : files) {
    Uint16 status = 0;
    const OFCondition c = scu.sendSTORERequest(0, f.c_str(), nullptr, status);
    if (c.bad()) scu.fail("C-STORE of '" + f.filename().string() + "' to", c.text());
    // Success, or a warning (coercion, elements discarded): stored.
    const bool stored = status == STATUS_Success || (status & 0xf000) == 0xb000;
    if (!stored) {
      scu.fail("C-STORE of '" + f.filename().string() + "' to",
               "status " + hex_status(status) + " (" + DU_cstoreStatusString(status) + ")");
    }
  }
  scu.release();
}

std::vector<StudyMatch> find_studies(const ScuOptions& options, const std::string& study_uid,
                                     const std::string& accession_number) {
  check_query_options(study_uid, accession_number);
  Scu scu(options);
  scu.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes());
  scu.connect("C-FIND at");
  const T_ASC_PresentationContextID pres =
      scu.findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  if (pres == 0) scu.fail("C-FIND at", "the Study Root query model was not accepted");
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  query.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  query.putAndInsertString(DCM_AccessionNumber, accession_number.c_str());
  query.putAndInsertString(DCM_StudyDate, "");
  query.putAndInsertString(DCM_StudyDescription, "");
  query.putAndInsertString(DCM_ModalitiesInStudy, "");
  query.putAndInsertString(DCM_NumberOfStudyRelatedSeries, "");
  query.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
  OFList<QRResponse*> responses;
  const OFCondition c = scu.sendFINDRequest(pres, &query, &responses);
  std::vector<StudyMatch> out;
  Uint16 final_status = 0;
  for (QRResponse* r : responses) {
    if (r->m_dataset != nullptr && DICOM_PENDING_STATUS(r->m_status)) {
      StudyMatch m;
      m.study_uid = dcmtk::get_string(*r->m_dataset, DCM_StudyInstanceUID);
      m.accession_number = dcmtk::get_string(*r->m_dataset, DCM_AccessionNumber);
      m.study_date = dcmtk::get_string(*r->m_dataset, DCM_StudyDate);
      m.study_description = dcmtk::get_string(*r->m_dataset, DCM_StudyDescription);
      m.modalities = dcmtk::get_string(*r->m_dataset, DCM_ModalitiesInStudy);
      m.series_count = dcmtk::get_string(*r->m_dataset, DCM_NumberOfStudyRelatedSeries);
      m.instance_count = dcmtk::get_string(*r->m_dataset, DCM_NumberOfStudyRelatedInstances);
      if (is_valid_uid(m.study_uid)) out.push_back(m);
    } else {
      final_status = r->m_status;
    }
    delete r;
  }
  if (c.bad()) scu.fail("C-FIND at", c.text());
  if (final_status != STATUS_Success) {
    scu.fail("C-FIND at", "status " + hex_status(final_status) + " (" + DU_cfindStatusString(final_status) + ")");
  }
  scu.release();
  return out;
}

RetrieveCounts get_study(const ScuOptions& options, const std::string& study_uid, const fs::path& incoming,
                         const RetrievedSink& sink) {
  if (!is_valid_uid(study_uid)) throw ConfigError("'" + study_uid + "' is not a valid UID");
  Scu scu(options);
  scu.sink = sink;
  scu.incoming = incoming;
  scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes());
  // We play the Storage SCP on this association (role selection).
  for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs; ++i) {
    scu.addPresentationContext(dcmLongSCUStorageSOPClassUIDs[i], uncompressed_syntaxes(), ASC_SC_ROLE_SCP);
  }
  scu.setStorageMode(DCMSCU_STORAGE_DISK);  // data sets in memory, handed to handleSTORERequest
  scu.connect("C-GET from");
  const T_ASC_PresentationContextID pres =
      scu.findPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  if (pres == 0) scu.fail("C-GET from", "the Study Root retrieve model was not accepted");
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  query.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  OFList<RetrieveResponse*> responses;
  const OFCondition c = scu.sendCGETRequest(pres, &query, &responses);
  RetrieveCounts counts = scu.counts;
  Uint16 final_status = 0xffff;
  for (RetrieveResponse* r : responses) {
    if (!DICOM_PENDING_STATUS(r->m_status)) {
      final_status = r->m_status;
      counts.completed = r->m_numberOfCompletedSubops;
      counts.failed = r->m_numberOfFailedSubops;
      counts.warning = r->m_numberOfWarningSubops;
    }
    delete r;
  }
  if (c.bad()) scu.fail("C-GET from", c.text());
  if (final_status != STATUS_Success && (final_status & 0xf000) != 0xb000) {
    scu.fail("C-GET from", "status " + hex_status(final_status) + " (" + DU_cgetStatusString(final_status) + ")");
  }
  scu.release();
  return counts;
}

}  // namespace medseg::pipeline::pacs
