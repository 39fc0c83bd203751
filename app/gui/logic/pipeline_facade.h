#pragma once
// The one place where the GUI calls the pipeline: read a scan (file or DICOM
// series), segment it with a bundle, adapt a bundle to it (AdaBN), write a
// label map. Qt-free; each long call takes a progress callback that returns
// false to cancel (then it throws medseg::Cancelled). Widgets run these on a
// worker thread (app/gui/widgets/job_runner.h) and never reimplement them.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/gui/logic/label_description.h"
#include "pipeline/infer/segmenter.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/volume.h"

namespace medseg::gui {

/// The precision menu's "auto" entry for this CPU, without measuring
/// anything (models/precision.h): "auto (fp32: no native bf16 on this
/// CPU)", "auto (bf16: AMX on this CPU)" or, on AVX512_BF16 without AMX,
/// "auto (the faster of fp32 and bf16, measured on this CPU)".
std::string auto_precision_label();

/// "auto" (models::resolve_precision: fp32 without native bf16, bf16 with
/// AMX, the measured faster one otherwise), "fp32" or "bf16".
/// Throws ConfigError for anything else.
pipeline::Precision resolve_precision(const std::string& choice);

/// Bundle folders (holding model.yaml) directly under `models_dir`, sorted
/// by name; empty when the folder does not exist.
std::vector<std::filesystem::path> list_bundles(const std::filesystem::path& models_dir);

/// What the segment panel asks for.
struct SegmentRequest {
  std::filesystem::path bundle;
  /// A bundle domain, pipeline::kAutoDomain, or empty (the first domain).
  std::string domain;
  bool tta = false;
  pipeline::Precision precision = pipeline::Precision::kFp32;
};

/// The pipeline::SegmentOptions the GUI uses for a request (overlap 0.5, two
/// windows per batch, no post-processing beyond the bundle's): tests build
/// the reference segmentation with the very same options.
pipeline::SegmentOptions segment_options(const SegmentRequest& request, pipeline::ProgressCallback progress);

/// Loads the bundle and segments `scan` (one channel): int16 (D, H, W) on
/// the scan's grid. Throws IoError/ConfigError/ModelError, or Cancelled
/// when `progress` returns false.
at::Tensor segment_scan(const pipeline::Volume& scan, const SegmentRequest& request,
                        pipeline::ProgressCallback progress);

/// AdaBN: loads `bundle`, adds domain `domain_name` re-estimated on `scan`
/// (pipeline::add_adapted_domain, fp32), and writes the result with
/// models::save_bundle to `output` (a new folder). Throws ModelError (no
/// batch normalization, existing name), IoError, Cancelled.
void adapt_bundle_to_scan(const std::filesystem::path& bundle, const pipeline::Volume& scan,
                          const std::string& domain_name, const std::filesystem::path& output,
                          pipeline::ProgressCallback progress);

/// `path` with its volume extension (.nii.gz, .nii, .nrrd, .mha, .mhd)
/// replaced by .csv: where save_label_map puts the label table.
std::filesystem::path label_table_path(const std::filesystem::path& path);

/// Writes `labels` (int16 (D, H, W)) as an int16 volume on `geometry` to
/// `path` (.nii.gz, .nii, .nrrd or .mha, pipeline::write_volume, atomic) and
/// the label table (`label,name,r,g,b`, one line per description) to
/// label_table_path(path). Throws IoError.
void save_label_map(const at::Tensor& labels, const pipeline::Geometry& geometry, const std::filesystem::path& path,
                    const std::vector<LabelDescription>& label_table);

/// The names and colours a label file carries, so a loaded map shows them:
/// a DICOM SEG's segments (Segment Label, colour from its CIELab value), or
/// the label table save_label_map wrote beside a volume
/// (label_table_path(path)). Empty when the file carries none. Throws
/// IoError naming the table and line when the table is malformed.
std::vector<LabelDescription> stored_label_descriptions(const std::filesystem::path& path);

}  // namespace medseg::gui
