#pragma once
// One volume in, a label map on the input's exact grid out: preprocessing
// as planned in the bundle, sliding-window inference, argmax,
// post-processing, and the inverse of every spatial preprocessing step.
// Shared by `medseg infer`, `medseg adapt`'s checks and the GUI.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/bundle.h"
#include "models/precision.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/adaptation_check.h"
#include "pipeline/infer/sliding_window.h"
#include "pipeline/preprocess/preprocessor.h"
#include "pipeline/volume.h"

namespace medseg::pipeline {

// The precision names live in models/ (autocast is a model concern); the
// pipeline speaks of them unqualified.
using models::Precision;
using models::parse_precision;
using models::to_string;

/// Domain name that adapts the statistics to the volume itself (AdaBN).
inline constexpr const char* kAutoDomain = "auto";

struct SegmentOptions {
  /// Fraction shared by neighbouring windows, 0 <= overlap < 1.
  double overlap = 0.5;
  /// Test-time augmentation: average over the 8 mirrorings (8x the time).
  bool mirror = false;
  /// kAuto: bf16 autocast where the CPU runs bf16 natively (2-5x faster
  /// there), fp32 elsewhere (bf16 is emulated ~13x slower). Agreement with
  /// fp32 is measured in docs/performance.md.
  Precision precision = Precision::kAuto;
  std::int64_t windows_per_batch = 2;
  /// Windows without body (body_mask.h: nothing above the image's
  /// background) get the logits of an empty window instead of a forward
  /// pass each; the label map is the same.
  bool skip_empty_windows = true;
  /// Run the trained UNet3d as it is instead of the folded inference network
  /// (models/inference_unet3d.h): slower, kept to check the fast path.
  bool reference_network = false;
  bool keep_largest_component = false;
  /// Remove islands smaller than this (mL) from every label; 0 = off.
  double min_island_ml = 0.0;
  /// Also return per-class probability maps (softmax) on the input grid.
  bool probabilities = false;
  /// A name from the bundle's domains, "auto" (adapt the statistics to this
  /// very volume), or empty for the bundle's first domain.
  std::string domain;
  /// "auto": how the statistics are adapted (adaptation.h). With several
  /// methods each adapts its own copy and the one with the lowest entropy on
  /// the check's windows is used (docs/normalization.md, "The safety check").
  /// Empty: the bundle's own (model.yaml `adaptation.methods`), else
  /// kDefaultAdaptMethods.
  std::vector<AdaptationMethod> adapt_methods;
  /// "auto": keep the adaptation only if the label-free check
  /// (adaptation_check.h) says it helps; otherwise use the first domain.
  /// Without it one method is used as it is, and of several the one with the
  /// lowest entropy, even if the model's own statistics score lower. Unset:
  /// the bundle's own (model.yaml `adaptation.check`), else checked.
  std::optional<bool> adapt_check;
  /// With the check: the share of body voxels an adaptation must relabel to
  /// be kept (AdaptationCheckOptions::min_change); 0 = entropy alone. Unset:
  /// the bundle's own (model.yaml `adaptation.min_change`), else
  /// AdaptationCheckOptions{}.min_change.
  std::optional<double> adapt_min_change;
  /// "auto", `prior` and `tent`: windows drawn per scan and the strength of
  /// the model's statistics in the mix (AdaptationOptions::windows_per_image,
  /// prior_strength). Unset: the bundle's own (model.yaml
  /// `adaptation.prior_windows` / `prior_strength`), else AdaptationOptions{}.
  std::optional<std::int64_t> adapt_prior_windows;
  std::optional<double> adapt_prior_strength;
  /// "auto": adapt only the first this many batch-norm layers (forward
  /// order); 0 = all (AdaptationOptions::layers).
  std::int64_t adapt_layers = 0;
  /// Fraction done (0..1) of the whole segmentation; return false to cancel
  /// (segment() then throws medseg::Cancelled).
  ProgressCallback progress;
};

struct LabelStatistics {
  int value = 0;
  std::string name;
  std::int64_t voxels = 0;
  /// voxels x voxel volume of the input grid, in millilitres.
  double volume_ml = 0.0;
};

/// Wall-clock seconds per stage.
struct SegmentTimings {
  double preprocess = 0.0;
  /// --domain auto: forward passes that re-estimate the statistics.
  double adaptation = 0.0;
  /// Inside the network's forward calls during sliding-window inference.
  double network = 0.0;
  /// The rest of sliding-window inference (window extraction, Gaussian
  /// blending), softmax and argmax.
  double blending = 0.0;
  double postprocess = 0.0;
  /// Back onto the input grid (labels and probabilities) and label volumes.
  double restore = 0.0;
  double total = 0.0;
};

struct Segmentation {
  /// int16 (D, H, W) label values (the bundle's label values), on the input's
  /// exact grid (size, spacing, origin, direction).
  Volume labels;
  /// float32 (K, D, H, W) softmax probabilities per class (bundle label
  /// order), on the input grid; only when asked for.
  std::optional<Volume> probabilities;
  /// One entry per bundle label, background included.
  std::vector<LabelStatistics> label_statistics;
  SegmentTimings timings;
  /// The domain whose statistics were used ("auto" when adapted).
  std::string domain;
  /// --domain auto with the check on: what it measured and decided.
  std::optional<AdaptationCheck> adaptation_check;
  /// The precision used (never kAuto).
  Precision precision = Precision::kFp32;
  /// Sliding windows over the preprocessed image, and how many of them were
  /// not run because they hold no body.
  SlidingWindowStats windows;
};

/// Segments volumes with one loaded bundle. segment() does not change the
/// bundle's model (--domain auto works on a copy), so one Segmenter serves
/// every case of a batch.
class Segmenter {
 public:
  /// Throws ConfigError when the bundle's preprocessing plan is invalid.
  explicit Segmenter(models::Bundle bundle);

  /// Throws ConfigError when `options` do not fit this bundle (unknown
  /// domain, "auto" without batch normalization, overlap out of range, ...).
  void check(const SegmentOptions& options) const;

  /// `channels`: one volume per input channel of the bundle, all on one grid.
  /// Memory: the logits are the only full-size buffer of the preprocessed
  /// grid (one float per class and voxel); argmax writes int16 slab by slab.
  /// Throws IoError/ConfigError/ModelError for unusable input, Cancelled.
  Segmentation segment(const std::vector<Volume>& channels, const SegmentOptions& options) const;

  /// The minimum change the check uses with `options` and where it comes
  /// from ("option", "model" or "default"; see adapt_min_change).
  std::pair<double, std::string> adapt_min_change(const SegmentOptions& options) const;
  /// The methods `--domain auto` tries with `options`, and from where.
  std::pair<std::vector<AdaptationMethod>, std::string> adapt_methods(const SegmentOptions& options) const;
  /// Whether the safety check decides with `options`, and from where.
  std::pair<bool, std::string> adapt_check(const SegmentOptions& options) const;
  /// `prior`/`tent`'s windows per scan and prior strength with `options`
  /// (option, else the model's, else AdaptationOptions{}).
  std::int64_t adapt_prior_windows(const SegmentOptions& options) const;
  double adapt_prior_strength(const SegmentOptions& options) const;

  const models::BundleInfo& info() const { return bundle_.info; }
  const PreprocessingPlan& plan() const { return preprocessor_.plan(); }

 private:
  std::int64_t domain_index(const std::string& name) const;

  models::Bundle bundle_;
  Preprocessor preprocessor_;
  /// bundle_.info.adapt_methods, parsed once.
  std::vector<AdaptationMethod> model_adapt_methods_;
};

}  // namespace medseg::pipeline
