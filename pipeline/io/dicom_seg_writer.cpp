// Writing a label map as a BINARY DICOM SEG with DCMTK's dcmseg. The source
// slices are matched to the label map's k index by their Image Position
// (Patient), not by file order, so a frame can only ever point at the slice
// it was computed from.
#include <ATen/core/Tensor.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/iodmacro.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "pipeline/io/cielab.h"
#include "pipeline/io/detail/dcmtk_util.h"
#include "pipeline/io/dicom_seg.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

// Slices closer than this (mm) to a grid position are on it: DS strings keep
// positions to ~1e-6 mm relative, and readers recompute the spacing from them.
constexpr double kOnGridMm = 0.01;
constexpr double kDirectionTolerance = 1e-4;

struct SourceSlice {
  std::string file;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string slice_thickness;
};

std::array<double, 3> column(const Geometry& g, int c) {
  return {g.direction_at(0, c), g.direction_at(1, c), g.direction_at(2, c)};
}

double dot(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

std::string position_text(const double* p) {
  return "(" + dcmtk::decimal_string(p[0]) + ", " + dcmtk::decimal_string(p[1]) + ", " +
         dcmtk::decimal_string(p[2]) + ")";
}

/// The series' slices in the order of the label map's k index.
std::vector<SourceSlice> slices_by_k(const Geometry& g, const std::vector<std::string>& files, const fs::path& output) {
  if (files.empty()) throw IoError("cannot write '" + output.string() + "': the reference series has no files");
  std::vector<SourceSlice> by_k(static_cast<std::size_t>(g.size[2]));
  const auto axis_i = column(g, 0), axis_j = column(g, 1), axis_k = column(g, 2);
  for (const auto& file : files) {
    DcmFileFormat ff;
    dcmtk::check_read(ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                          ERM_autoDetect, DCM_PixelData),
                      file, "not a DICOM file");
    DcmDataset& ds = *ff.getDataset();
    SourceSlice s;
    s.file = file;
    s.sop_class_uid = dcmtk::get_string(ds, DCM_SOPClassUID);
    s.sop_instance_uid = dcmtk::get_string(ds, DCM_SOPInstanceUID);
    s.slice_thickness = dcmtk::get_string(ds, DCM_SliceThickness);
    double ipp[3], iop[6];
    Uint16 rows = 0, columns = 0;
    if (s.sop_class_uid.empty() || s.sop_instance_uid.empty()) {
      throw IoError("cannot read '" + file + "': no SOP Class/Instance UID");
    }
    if (!dcmtk::get_decimals(ds, DCM_ImagePositionPatient, ipp, 3) ||
        !dcmtk::get_decimals(ds, DCM_ImageOrientationPatient, iop, 6) ||
        ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad()) {
      throw IoError("cannot read '" + file + "': no Image Position/Orientation (Patient), Rows or Columns");
    }
    if (columns != g.size[0] || rows != g.size[1]) {
      throw IoError("label map is not on the grid of the DICOM series: '" + file + "' has " + std::to_string(columns) +
                    "x" + std::to_string(rows) + " pixels, the label map " + std::to_string(g.size[0]) + "x" +
                    std::to_string(g.size[1]));
    }
    for (int c = 0; c < 3; ++c) {
      if (std::abs(iop[c] - axis_i[c]) > kDirectionTolerance || std::abs(iop[3 + c] - axis_j[c]) > kDirectionTolerance) {
        throw IoError("label map is not on the grid of the DICOM series: '" + file +
                      "' has another orientation than the label map");
      }
    }
    const std::array<double, 3> d{ipp[0] - g.origin[0], ipp[1] - g.origin[1], ipp[2] - g.origin[2]};
    const double along_k = dot(d, axis_k) / g.spacing[2];
    const double k = std::round(along_k);
    if (std::abs(dot(d, axis_i)) > kOnGridMm || std::abs(dot(d, axis_j)) > kOnGridMm ||
        std::abs(along_k - k) * g.spacing[2] > kOnGridMm || k < 0 || k >= static_cast<double>(g.size[2])) {
      throw IoError("label map is not on the grid of the DICOM series: slice '" + file + "' at " +
                    position_text(ipp) + " mm is on none of the label map's slices");
    }
    auto& slot = by_k[static_cast<std::size_t>(k)];
    if (!slot.file.empty()) {
      throw IoError("label map is not on the grid of the DICOM series: '" + slot.file + "' and '" + file +
                    "' are both at slice " + std::to_string(static_cast<long>(k)));
    }
    slot = std::move(s);
  }
  for (std::size_t k = 0; k < by_k.size(); ++k) {
    if (by_k[k].file.empty()) {
      throw IoError("label map is not on the grid of the DICOM series: no DICOM slice at k = " + std::to_string(k) +
                    " of " + std::to_string(by_k.size()));
    }
  }
  return by_k;
}

template <typename T>
struct Deleter {
  void operator()(T* p) const { delete p; }
};
template <typename T>
using Owned = std::unique_ptr<T, Deleter<T>>;

}  // namespace

void write_dicom_seg(const Volume& labels, const std::vector<std::string>& series_files, const fs::path& output,
                     const DicomSegWriteOptions& options) {
  dcmtk::quiet_logging();
  const Geometry& g = labels.geometry;
  if (g.size[0] > 65535 || g.size[1] > 65535) throw IoError("cannot write '" + output.string() + "': slices too large");
  const std::vector<SourceSlice> slices = slices_by_k(g, series_files, output);
  const at::Tensor data = labels.data.to(at::kShort).contiguous();
  const std::int16_t* voxels = data.data_ptr<std::int16_t>();
  const std::size_t plane = static_cast<std::size_t>(g.size[0] * g.size[1]);
  const std::size_t depth = static_cast<std::size_t>(g.size[2]);

  // Which labels occur on which slices.
  std::map<int, std::vector<std::size_t>> slices_of_label;
  for (std::size_t k = 0; k < depth; ++k) {
    std::set<int> values;
    const std::int16_t* p = voxels + k * plane;
    int last = 0;
    for (std::size_t i = 0; i < plane; ++i) {
      if (p[i] != last && p[i] != 0) values.insert(p[i]);
      if (p[i] != 0) last = p[i];
    }
    for (int v : values) {
      if (v < 0) throw IoError("cannot write '" + output.string() + "': negative label value " + std::to_string(v));
      slices_of_label[v].push_back(k);
    }
  }

  if (slices_of_label.empty()) {
    throw IoError("cannot write '" + output.string() + "': the label map is empty, and a DICOM SEG needs a segment");
  }

  // Software Versions is Type 1 in the Enhanced General Equipment module.
  const std::string software = options.software_version.empty() ? "unknown" : options.software_version;
  IODGeneralEquipmentModule::EquipmentInfo equipment("medseg", "medseg", "0", software.c_str());
  // DCMTK wants a creator's name here; it is replaced by an empty one below.
  ContentIdentificationMacro content("1", "MEDSEG", "Automatic segmentation by medseg", "medseg");
  DcmSegmentation* raw = nullptr;
  dcmtk::check_write(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(g.size[1]),
                                                               static_cast<Uint16>(g.size[0]), equipment, content),
                     output, "creating the segmentation");
  Owned<DcmSegmentation> seg(raw);
  // Patient, Study and Frame of Reference from the source; a new Series.
  dcmtk::check_read(seg->importHierarchy(slices.front().file.c_str(), OFTrue, OFTrue, OFTrue, OFFalse),
                    slices.front().file, "copying patient, study and frame of reference");
  OFString frame_of_reference;
  if (seg->getFrameOfReference().getFrameOfReferenceUID(frame_of_reference).bad() || frame_of_reference.empty()) {
    // A source without one (not valid for CT/MR, but seen): the SEG still
    // needs one for its plane positions.
    dcmtk::check_write(seg->getFrameOfReference().setFrameOfReferenceUID(dcmtk::new_uid().c_str()), output,
                       "frame of reference");
  }
  dcmtk::check_write(seg->getSeries().setSeriesInstanceUID(dcmtk::new_uid().c_str()), output, "series UID");
  dcmtk::check_write(seg->getSOPCommon().setSOPInstanceUID(dcmtk::new_uid().c_str()), output, "SOP instance UID");
  dcmtk::check_write(seg->getSeries().setSeriesNumber(std::to_string(options.series_number).c_str()), output,
                     "series number");
  dcmtk::check_write(seg->getSeries().setSeriesDescription(options.series_description.c_str()), output,
                     "series description");

  const std::string dimension_uid = dcmtk::new_uid();
  auto& dimensions = seg->getDimensions();
  dcmtk::check_write(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid.c_str(),
                                                  DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
                     output, "dimension index");
  dcmtk::check_write(dimensions.addDimensionIndex(DCM_ImagePositionPatient, dimension_uid.c_str(),
                                                  DCM_PlanePositionSequence, "ImagePositionPatient"),
                     output, "dimension index");

  // Shared by all frames: orientation and pixel measures.
  {
    const auto i = column(g, 0), j = column(g, 1);
    Owned<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
        dcmtk::decimal_string(i[0]).c_str(), dcmtk::decimal_string(i[1]).c_str(), dcmtk::decimal_string(i[2]).c_str(),
        dcmtk::decimal_string(j[0]).c_str(), dcmtk::decimal_string(j[1]).c_str(), dcmtk::decimal_string(j[2]).c_str()));
    dcmtk::check_write(seg->addForAllFrames(*orientation), output, "plane orientation");
    FGPixelMeasures measures;
    // Pixel Spacing is row spacing (between rows, along j) first.
    const std::string spacing = dcmtk::decimal_string(g.spacing[1]) + "\\" + dcmtk::decimal_string(g.spacing[0]);
    const std::string& thickness = slices.front().slice_thickness;
    dcmtk::check_write(measures.setPixelSpacing(spacing.c_str()), output, "pixel spacing");
    dcmtk::check_write(
        measures.setSliceThickness((thickness.empty() ? dcmtk::decimal_string(g.spacing[2]) : thickness).c_str()),
        output, "slice thickness");
    dcmtk::check_write(measures.setSpacingBetweenSlices(dcmtk::decimal_string(g.spacing[2]).c_str()), output,
                       "spacing between slices");
    dcmtk::check_write(seg->addForAllFrames(measures), output, "pixel measures");
  }

  std::set<std::size_t> referenced;
  std::vector<Uint8> frame(plane);
  for (const auto& [value, ks] : slices_of_label) {
    std::string name = "label " + std::to_string(value);
    std::array<std::uint8_t, 3> rgb{128, 128, 128};
    for (const auto& l : options.labels) {
      if (l.value == value) {
        name = l.name;
        rgb = l.color;
      }
    }
    const SegmentCodes codes = segment_codes_for(name);
    const CodeSequenceMacro category(codes.category.value.c_str(), codes.category.scheme.c_str(),
                                     codes.category.meaning.c_str());
    const CodeSequenceMacro type(codes.type.value.c_str(), codes.type.scheme.c_str(), codes.type.meaning.c_str());
    DcmSegment* segment = nullptr;
    dcmtk::check_write(DcmSegment::create(segment, name.substr(0, 64).c_str(), category, type,
                                          DcmSegTypes::SAT_AUTOMATIC, options.algorithm_name.substr(0, 64).c_str()),
                       output, "segment '" + name + "'");
    Owned<DcmSegment> owned_segment(segment);
    // The label value travels in the description so that reading the SEG
    // back gives the same values even when a label is absent (segment numbers
    // must run 1, 2, 3 without gaps).
    dcmtk::check_write(segment->setSegmentDescription(("medseg label value " + std::to_string(value)).c_str()), output,
                       "segment description");
    const auto lab = srgb_to_dicom_lab(rgb);
    dcmtk::check_write(segment->setRecommendedDisplayCIELabValue(lab[0], lab[1], lab[2]), output, "segment colour");
    Uint16 number = 0;
    dcmtk::check_write(seg->addSegment(segment, number), output, "segment '" + name + "'");
    owned_segment.release();  // the segmentation owns it now

    for (std::size_t k : ks) {
      const std::int16_t* p = voxels + k * plane;
      for (std::size_t i = 0; i < plane; ++i) frame[i] = p[i] == value ? 1 : 0;
      const auto pos = g.index_to_world({0.0, 0.0, static_cast<double>(k)});
      Owned<FGPlanePosPatient> position(FGPlanePosPatient::createMinimal(dcmtk::decimal_string(pos[0]).c_str(),
                                                                         dcmtk::decimal_string(pos[1]).c_str(),
                                                                         dcmtk::decimal_string(pos[2]).c_str()));
      FGFrameContent content_fg;
      dcmtk::check_write(content_fg.setDimensionIndexValues(number, 0), output, "frame content");
      dcmtk::check_write(content_fg.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), output, "frame content");
      ImageSOPInstanceReferenceMacro* source = nullptr;
      dcmtk::check_write(ImageSOPInstanceReferenceMacro::create(slices[k].sop_class_uid.c_str(),
                                                                slices[k].sop_instance_uid.c_str(), source),
                         output, "source image reference");
      Owned<ImageSOPInstanceReferenceMacro> owned_source(source);
      OFVector<ImageSOPInstanceReferenceMacro> sources;
      sources.push_back(*source);
      Owned<FGDerivationImage> derivation(
          DcmSegmentation::createDerivationImageFG(sources, "Segmentation of this slice by medseg"));
      if (!derivation) throw IoError("cannot write '" + output.string() + "': derivation image reference");
      OFVector<FGBase*> per_frame;
      per_frame.push_back(position.get());
      per_frame.push_back(&content_fg);
      per_frame.push_back(derivation.get());
      dcmtk::check_write(seg->addFrame(frame.data(), number, per_frame), output,
                         "frame of slice " + std::to_string(k));
      referenced.insert(k);
    }
  }

  // Common Instance Reference: the series and every slice a frame derives from.
  {
    auto& series_items = seg->getCommonInstanceReference().getReferencedSeriesItems();
    auto* item = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem;
    series_items.push_back(item);
    DcmFileFormat first;
    dcmtk::check_read(first.loadFileUntilTag(slices.front().file.c_str(), EXS_Unknown, EGL_noChange,
                                             DCM_MaxReadLength, ERM_autoDetect, DCM_PixelData),
                      slices.front().file, "not a DICOM file");
    dcmtk::check_write(item->setSeriesInstanceUID(dcmtk::get_string(*first.getDataset(), DCM_SeriesInstanceUID).c_str()),
                       output, "referenced series");
    for (std::size_t k : referenced) {
      auto* instance = new SOPInstanceReferenceMacro;
      item->getReferencedInstanceItems().push_back(instance);
      dcmtk::check_write(instance->setReferencedSOPClassUID(slices[k].sop_class_uid.c_str()), output, "reference");
      dcmtk::check_write(instance->setReferencedSOPInstanceUID(slices[k].sop_instance_uid.c_str()), output,
                         "reference");
    }
  }

  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  seg->getGeneralImage().setContentDate(date);
  seg->getGeneralImage().setContentTime(time);

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  dcmtk::check_write(seg->writeDataset(ds), output, "encoding the segmentation");
  dcmtk::check_write(ds.putAndInsertString(DCM_SeriesDate, date.c_str()), output, "series date");
  dcmtk::check_write(ds.putAndInsertString(DCM_SeriesTime, time.c_str()), output, "series time");
  dcmtk::check_write(ds.putAndInsertString(DCM_SegmentsOverlap, "NO"), output, "segments overlap");
  // Content Creator's Name is a person's name (PN, Type 2) and no person made
  // this: empty (dciodvfy warns about "medseg" as a retired PN form).
  dcmtk::check_write(ds.putAndInsertString(DCM_ContentCreatorName, ""), output, "content creator");
  core::write_file_atomically(output, [&](const fs::path& temporary) {
    dcmtk::check_write(file.saveFile(temporary.c_str(), EXS_LittleEndianExplicit), output, "saving");
  });
}

}  // namespace medseg::pipeline
