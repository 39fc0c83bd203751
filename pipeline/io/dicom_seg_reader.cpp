// Reading a DICOM SEG as a label map with DCMTK's dcmseg: the frames are
// placed by their Image Position (Patient), either on the scan's grid given
// by the caller or on a grid spanned by the frames themselves.
#include <ATen/ATen.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmfg/fginterface.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmseg/segutils.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "pipeline/io/cielab.h"
#include "pipeline/io/detail/dcmtk_util.h"
#include "pipeline/io/dicom_seg.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

constexpr double kOnGridMm = 0.01;
constexpr double kDirectionTolerance = 1e-4;
constexpr double kSpacingTolerance = 1e-3;
const char kValuePrefix[] = "medseg label value ";

using Vec3 = std::array<double, 3>;

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

[[noreturn]] void fail(const fs::path& path, const std::string& reason) {
  throw IoError("cannot read '" + path.string() + "': " + reason);
}

std::string text(const Vec3& p) {
  return "(" + dcmtk::decimal_string(p[0]) + ", " + dcmtk::decimal_string(p[1]) + ", " + dcmtk::decimal_string(p[2]) +
         ")";
}

/// A loaded SEG: the DCMTK object and the dataset it was read from.
struct LoadedSeg {
  DcmFileFormat file;
  std::unique_ptr<DcmSegmentation> seg;
  std::int64_t rows = 0, columns = 0;
};

std::unique_ptr<LoadedSeg> load(const fs::path& path) {
  dcmtk::quiet_logging();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(path, "no such file");
  auto loaded = std::make_unique<LoadedSeg>();
  dcmtk::check_read(loaded->file.loadFile(path.c_str()), path, "not a DICOM file");
  DcmDataset& ds = *loaded->file.getDataset();
  if (dcmtk::get_string(ds, DCM_SOPClassUID) != UID_SegmentationStorage) {
    fail(path, "not a DICOM Segmentation (SOP Class " + dcmtk::get_string(ds, DCM_SOPClassUID) + ")");
  }
  Uint16 rows = 0, columns = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad()) {
    fail(path, "no Rows/Columns");
  }
  loaded->rows = rows;
  loaded->columns = columns;
  DcmSegmentation* raw = nullptr;
  dcmtk::check_read(DcmSegmentation::loadDataset(ds, raw), path, "invalid DICOM Segmentation");
  loaded->seg.reset(raw);
  return loaded;
}

int label_value_of(DcmSegment& segment, int number) {
  OFString description;
  segment.getSegmentDescription(description);
  const std::string d = description.c_str();
  if (d.rfind(kValuePrefix, 0) == 0) {
    const long v = std::strtol(d.c_str() + sizeof(kValuePrefix) - 1, nullptr, 10);
    if (v > 0 && v <= 32767) return static_cast<int>(v);
  }
  return number;
}

CodedConcept concept_of(CodeSequenceMacro& code) {
  CodedConcept c;
  OFString s;
  if (code.getCodeValue(s).good()) c.value = s.c_str();
  if (code.getCodingSchemeDesignator(s).good()) c.scheme = s.c_str();
  if (code.getCodeMeaning(s).good()) c.meaning = s.c_str();
  return c;
}

struct FramePlacement {
  Vec3 position{};
  int segment = 0;
};

std::vector<FramePlacement> frame_placements(LoadedSeg& s, const fs::path& path) {
  FGInterface& fg = s.seg->getFunctionalGroups();
  const std::size_t n = s.seg->getNumberOfFrames();
  std::vector<FramePlacement> out(n);
  for (std::size_t f = 0; f < n; ++f) {
    auto* position = dynamic_cast<FGPlanePosPatient*>(fg.get(static_cast<Uint32>(f), DcmFGTypes::EFG_PLANEPOSPATIENT));
    auto* segmentation = dynamic_cast<FGSegmentation*>(fg.get(static_cast<Uint32>(f), DcmFGTypes::EFG_SEGMENTATION));
    if (position == nullptr) fail(path, "frame " + std::to_string(f + 1) + " has no Plane Position (Patient)");
    if (segmentation == nullptr) fail(path, "frame " + std::to_string(f + 1) + " has no Segment Identification");
    Float64 x = 0, y = 0, z = 0;
    Uint16 number = 0;
    if (position->getImagePositionPatient(x, y, z).bad()) {
      fail(path, "frame " + std::to_string(f + 1) + " has no Image Position (Patient)");
    }
    if (segmentation->getReferencedSegmentNumber(number).bad() || number == 0 ||
        number > s.seg->getNumberOfSegments()) {
      fail(path, "frame " + std::to_string(f + 1) + " references no valid segment");
    }
    out[f] = {{x, y, z}, number};
  }
  return out;
}

/// Orientation (row and column direction) and pixel spacing shared by the frames.
struct PlaneGeometry {
  Vec3 row{}, col{};
  double spacing_i = 0, spacing_j = 0;
  double spacing_between = 0, thickness = 0;
};

PlaneGeometry plane_geometry(LoadedSeg& s, const fs::path& path) {
  FGInterface& fg = s.seg->getFunctionalGroups();
  auto* orientation = dynamic_cast<FGPlaneOrientationPatient*>(fg.get(0, DcmFGTypes::EFG_PLANEORIENTPATIENT));
  auto* measures = dynamic_cast<FGPixelMeasures*>(fg.get(0, DcmFGTypes::EFG_PIXELMEASURES));
  if (orientation == nullptr) fail(path, "no Plane Orientation (Patient)");
  if (measures == nullptr) fail(path, "no Pixel Measures");
  PlaneGeometry p;
  if (orientation->getImageOrientationPatient(p.row[0], p.row[1], p.row[2], p.col[0], p.col[1], p.col[2]).bad()) {
    fail(path, "no Image Orientation (Patient)");
  }
  Float64 v = 0;
  // Pixel Spacing: between rows (along a column, j) first.
  if (measures->getPixelSpacing(v, 0).good()) p.spacing_j = v;
  if (measures->getPixelSpacing(v, 1).good()) p.spacing_i = v;
  if (p.spacing_i <= 0 || p.spacing_j <= 0) fail(path, "no valid Pixel Spacing");
  if (measures->getSpacingBetweenSlices(v).good() && v > 0) p.spacing_between = v;
  if (measures->getSliceThickness(v).good() && v > 0) p.thickness = v;
  return p;
}

/// A grid spanned by the frames: their stack from the lowest to the highest
/// position along the slice normal.
Geometry grid_from_frames(const LoadedSeg& s, const PlaneGeometry& p, const std::vector<FramePlacement>& frames,
                          const fs::path& path) {
  const Vec3 normal = cross(p.row, p.col);
  std::vector<double> along;
  for (const auto& f : frames) along.push_back(dot(f.position, normal));
  const auto lowest = std::min_element(along.begin(), along.end()) - along.begin();
  std::vector<double> sorted = along;
  std::sort(sorted.begin(), sorted.end());
  double spacing = p.spacing_between;
  if (spacing <= 0) {
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      const double gap = sorted[i] - sorted[i - 1];
      if (gap > kOnGridMm && (spacing <= 0 || gap < spacing)) spacing = gap;
    }
  }
  if (spacing <= 0) spacing = p.thickness > 0 ? p.thickness : 1.0;
  Geometry g;
  g.size = {s.columns, s.rows, static_cast<std::int64_t>(std::llround((sorted.back() - sorted.front()) / spacing)) + 1};
  g.spacing = {p.spacing_i, p.spacing_j, spacing};
  g.origin = frames[static_cast<std::size_t>(lowest)].position;
  for (int r = 0; r < 3; ++r) {
    g.direction[r * 3 + 0] = p.row[r];
    g.direction[r * 3 + 1] = p.col[r];
    g.direction[r * 3 + 2] = normal[r];
  }
  (void)path;
  return g;
}

void check_plane_fits(const Geometry& grid, const LoadedSeg& s, const PlaneGeometry& p, const fs::path& path) {
  if (s.columns != grid.size[0] || s.rows != grid.size[1]) {
    fail(path, "frames of " + std::to_string(s.columns) + "x" + std::to_string(s.rows) + " pixels, the grid has " +
                   std::to_string(grid.size[0]) + "x" + std::to_string(grid.size[1]));
  }
  for (int r = 0; r < 3; ++r) {
    if (std::abs(p.row[r] - grid.direction_at(r, 0)) > kDirectionTolerance ||
        std::abs(p.col[r] - grid.direction_at(r, 1)) > kDirectionTolerance) {
      fail(path, "the frames' orientation differs from the grid's");
    }
  }
  if (std::abs(p.spacing_i - grid.spacing[0]) > kSpacingTolerance ||
      std::abs(p.spacing_j - grid.spacing[1]) > kSpacingTolerance) {
    fail(path, "pixel spacing " + dcmtk::decimal_string(p.spacing_i) + " x " + dcmtk::decimal_string(p.spacing_j) +
                   " mm differs from the grid's " + dcmtk::decimal_string(grid.spacing[0]) + " x " +
                   dcmtk::decimal_string(grid.spacing[1]) + " mm");
  }
}

/// The slice index of each frame on `grid`.
std::vector<std::int64_t> slice_indices(const Geometry& grid, const std::vector<FramePlacement>& frames,
                                        const fs::path& path) {
  const Vec3 i{grid.direction_at(0, 0), grid.direction_at(1, 0), grid.direction_at(2, 0)};
  const Vec3 j{grid.direction_at(0, 1), grid.direction_at(1, 1), grid.direction_at(2, 1)};
  const Vec3 k{grid.direction_at(0, 2), grid.direction_at(1, 2), grid.direction_at(2, 2)};
  std::vector<std::int64_t> out;
  for (std::size_t f = 0; f < frames.size(); ++f) {
    const Vec3& p = frames[f].position;
    const Vec3 d{p[0] - grid.origin[0], p[1] - grid.origin[1], p[2] - grid.origin[2]};
    const double along = dot(d, k) / grid.spacing[2];
    const double slice = std::round(along);
    if (std::abs(dot(d, i)) > kOnGridMm || std::abs(dot(d, j)) > kOnGridMm ||
        std::abs(along - slice) * grid.spacing[2] > kOnGridMm || slice < 0 ||
        slice >= static_cast<double>(grid.size[2])) {
      fail(path, "frame " + std::to_string(f + 1) + " at " + text(p) + " mm is on none of the grid's " +
                     std::to_string(grid.size[2]) + " slices");
    }
    out.push_back(static_cast<std::int64_t>(slice));
  }
  return out;
}

}  // namespace

bool is_dicom_seg(const fs::path& path) {
  dcmtk::quiet_logging();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  {
    // A Part 10 file (preamble + "DICM") only: anything else (NIfTI, NRRD)
    // is never handed to DCMTK's parser.
    std::ifstream in(path, std::ios::binary);
    char head[132] = {};
    if (!in.read(head, sizeof head) || std::string(head + 128, 4) != "DICM") return false;
  }
  DcmFileFormat ff;
  if (ff.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect,
                          DCM_PixelData)
          .bad()) {
    return false;
  }
  return dcmtk::get_string(*ff.getDataset(), DCM_SOPClassUID) == UID_SegmentationStorage;
}

DicomSegInfo read_dicom_seg_info(const fs::path& path) {
  auto s = load(path);
  DcmDataset& ds = *s->file.getDataset();
  DicomSegInfo info;
  info.sop_instance_uid = dcmtk::get_string(ds, DCM_SOPInstanceUID);
  info.series_uid = dcmtk::get_string(ds, DCM_SeriesInstanceUID);
  info.series_description = dcmtk::get_string(ds, DCM_SeriesDescription);
  info.frame_of_reference_uid = dcmtk::get_string(ds, DCM_FrameOfReferenceUID);
  DcmSequenceOfItems* series = nullptr;
  if (ds.findAndGetSequence(DCM_ReferencedSeriesSequence, series).good() && series != nullptr) {
    for (unsigned long i = 0; i < series->card(); ++i) {
      info.referenced_series_uids.push_back(dcmtk::get_string(*series->getItem(i), DCM_SeriesInstanceUID));
    }
  }
  info.rows = s->rows;
  info.columns = s->columns;
  info.frames = static_cast<std::int64_t>(s->seg->getNumberOfFrames());
  const auto frames = frame_placements(*s, path);
  for (std::size_t n = 1; n <= s->seg->getNumberOfSegments(); ++n) {
    DcmSegment* segment = s->seg->getSegment(n);
    if (segment == nullptr) fail(path, "segment " + std::to_string(n) + " is missing");
    DicomSegment d;
    d.number = static_cast<int>(n);
    d.label_value = label_value_of(*segment, d.number);
    OFString value;
    if (segment->getSegmentLabel(value).good()) d.label = value.c_str();
    if (segment->getSegmentAlgorithmName(value).good()) d.algorithm_name = value.c_str();
    d.algorithm_type = DcmSegTypes::algoType2OFString(segment->getSegmentAlgorithmType()).c_str();
    d.category = concept_of(segment->getSegmentedPropertyCategoryCode());
    d.type = concept_of(segment->getSegmentedPropertyTypeCode());
    Uint16 l = 0, a = 0, b = 0;
    if (segment->getRecommendedDisplayCIELabValue(l, a, b).good()) d.rgb = dicom_lab_to_srgb({l, a, b});
    for (const auto& f : frames) d.frames += f.segment == d.number;
    info.segments.push_back(d);
  }
  return info;
}

Volume read_dicom_seg(const fs::path& path, const std::optional<Geometry>& grid) {
  auto s = load(path);
  const auto frames = frame_placements(*s, path);
  if (frames.empty()) fail(path, "the segmentation has no frames");
  const PlaneGeometry plane = plane_geometry(*s, path);
  const Geometry g = grid ? *grid : grid_from_frames(*s, plane, frames, path);
  check_plane_fits(g, *s, plane, path);
  const auto ks = slice_indices(g, frames, path);

  std::vector<int> values(s->seg->getNumberOfSegments() + 1, 0);
  for (std::size_t n = 1; n < values.size(); ++n) {
    DcmSegment* segment = s->seg->getSegment(n);
    if (segment == nullptr) fail(path, "segment " + std::to_string(n) + " is missing");
    values[n] = label_value_of(*segment, static_cast<int>(n));
  }
  const bool binary = s->seg->getSegmentationType() == DcmSegTypes::ST_BINARY;
  Uint16 max_fraction = 255;
  if (!binary) s->file.getDataset()->findAndGetUint16(DCM_MaximumFractionalValue, max_fraction);

  at::Tensor data = at::zeros({g.size[2], g.size[1], g.size[0]}, at::kShort);
  std::int16_t* out = data.data_ptr<std::int16_t>();
  const std::size_t plane_size = static_cast<std::size_t>(s->rows * s->columns);
  // Frames in segment order, so that a higher segment wins where they overlap.
  std::vector<std::size_t> order(frames.size());
  for (std::size_t f = 0; f < order.size(); ++f) order[f] = f;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return frames[a].segment < frames[b].segment; });
  for (std::size_t f : order) {
    const DcmIODTypes::Frame* frame = s->seg->getFrame(f);
    if (frame == nullptr) fail(path, "frame " + std::to_string(f + 1) + " has no pixel data");
    std::unique_ptr<DcmIODTypes::Frame> unpacked;
    const Uint8* pixels = frame->pixData;
    if (binary && frame->length < plane_size) {
      unpacked.reset(DcmSegUtils::unpackBinaryFrame(frame, static_cast<Uint16>(s->rows), static_cast<Uint16>(s->columns)));
      if (!unpacked) fail(path, "frame " + std::to_string(f + 1) + " cannot be unpacked");
      pixels = unpacked->pixData;
    } else if (frame->length < plane_size) {
      fail(path, "frame " + std::to_string(f + 1) + " is shorter than " + std::to_string(plane_size) + " pixels");
    }
    const auto value = static_cast<std::int16_t>(values[static_cast<std::size_t>(frames[f].segment)]);
    std::int16_t* slice = out + static_cast<std::size_t>(ks[f]) * plane_size;
    for (std::size_t i = 0; i < plane_size; ++i) {
      const bool set = binary ? pixels[i] != 0 : 2u * pixels[i] > max_fraction;
      if (set) slice[i] = value;
    }
  }
  Volume v;
  v.data = data;
  v.geometry = g;
  v.source_path = path.string();
  v.pixel_type = "int16";
  v.metadata.modality = "SEG";
  v.metadata.series_uid = dcmtk::get_string(*s->file.getDataset(), DCM_SeriesInstanceUID);
  v.metadata.series_description = dcmtk::get_string(*s->file.getDataset(), DCM_SeriesDescription);
  return v;
}

}  // namespace medseg::pipeline
