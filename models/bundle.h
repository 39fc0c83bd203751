#pragma once
// A model bundle: what a clinician loads and a researcher hands on. One
// directory with model.yaml (everything needed to use the weights correctly)
// and weights.pt (named tensors). Loading refuses anything that does not fit
// together and says what.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/adaptation_limits.h"
#include "models/unet3d.h"

namespace medseg::models {

/// Bumped when model.yaml or weights.pt change incompatibly. A bundle with a
/// newer version is refused (this build cannot know what changed).
inline constexpr int kBundleFormatVersion = 1;

struct LabelInfo {
  int value = 0;
  std::string name;
  std::array<std::uint8_t, 3> color{0, 0, 0};  ///< RGB for viewers
};

/// Where a bundle came from (free text; shown, never interpreted).
struct Provenance {
  std::string created;         ///< ISO 8601 UTC
  std::string medseg_version;  ///< git describe of the build that trained it
  std::string config_yaml;     ///< the effective training config
  std::string fingerprint_json;
  /// Validation metrics, e.g. {"dice/brain": 0.97, "epoch": 40}.
  std::map<std::string, double> metrics;
  /// Optional free-text history after training, e.g. "domain 'ct_b' added by
  /// AdaBN on 12 unlabeled volumes (medseg adapt, ...)". Written as
  /// `provenance.notes` only when not empty (format version 1 readers that
  /// predate it ignore it).
  std::vector<std::string> notes;
};

/// Everything in model.yaml.
struct BundleInfo {
  int format_version = kBundleFormatVersion;
  std::string name;     ///< e.g. "brain_mri_t1"
  std::string version;  ///< the model's own version, e.g. "1"
  UNet3dOptions architecture{1, 2};
  std::vector<std::string> channel_names;
  /// Background (0) included, ascending values; size == num_classes.
  std::vector<LabelInfo> labels;
  /// Scanner/site names, one per set of normalization statistics.
  std::vector<std::string> domains;
  /// Sliding-window patch, voxels along i, j, k.
  std::array<std::int64_t, 3> patch_size{64, 64, 64};
  /// The preprocessing plan as JSON (pipeline::plan_to_json); models cannot
  /// depend on pipeline, so it is kept as text here and as a nested mapping
  /// in model.yaml.
  std::string preprocessing_json = "{}";
  /// The safety check's minimum relabelled share for `--domain auto`
  /// (pipeline AdaptationCheckOptions::min_change) chosen for this model on
  /// its tuning scans: how much an adaptation must change depends on the
  /// model (docs/normalization.md, "The safety check"). model.yaml
  /// `adaptation.min_change`, written only when set; unset = medseg's default.
  std::optional<double> adapt_min_change;
  /// The default `--domain auto` policy chosen for this model on its tuning
  /// scans: the methods tried (pipeline AdaptationMethod names, e.g.
  /// "prior"; empty = medseg's default) and whether the safety check decides
  /// (unset = medseg's default, checked). model.yaml `adaptation.methods` and
  /// `adaptation.check`, written only when set; the command line overrides
  /// both. Method names are checked where they are used (pipeline::Segmenter).
  std::vector<std::string> adapt_methods;
  std::optional<bool> adapt_check;
  /// `prior` and `tent`: the windows drawn per scan and the strength N of
  /// the model's statistics in the mix N / (N + n) (pipeline
  /// AdaptationOptions::windows_per_image / prior_strength), chosen for this
  /// model; model.yaml `adaptation.prior_windows` / `adaptation.prior_strength`,
  /// written only when set; unset = medseg's defaults.
  std::optional<std::int64_t> adapt_prior_windows;
  std::optional<double> adapt_prior_strength;
  Provenance provenance;
};

struct Bundle {
  BundleInfo info;
  UNet3d model{nullptr};
};

/// Writes `directory` (model.yaml + weights.pt) atomically: everything goes
/// to a temporary sibling directory that is renamed over the old bundle, so
/// a reader (or a crash) never sees half a bundle. `info.architecture` must
/// equal `model->options`; labels, channel names, domains and patch size must
/// fit it (as load_bundle checks). Throws ModelError when they do not, and
/// IoError when the files cannot be written or `directory` exists but is not
/// a bundle (it is never replaced then).
void save_bundle(const std::filesystem::path& directory, const BundleInfo& info, UNet3d& model);

/// Reads model.yaml only (fast: for listings and the GUI). Checks the format
/// version, keys, types and that the fields fit together. Throws ModelError.
BundleInfo read_bundle_info(const std::filesystem::path& directory);

/// Reads and checks a bundle: format version, architecture, the checksum of
/// weights.pt, and every tensor's name, shape and dtype against the
/// architecture. Throws ModelError naming the file and what is wrong (newer
/// format, missing/unexpected tensor, shape mismatch, corrupted file). The
/// model is returned in eval mode (call train() to fine-tune).
Bundle load_bundle(const std::filesystem::path& directory);

/// Writes the weights as a plain PyTorch state dict ({name: tensor}, every
/// parameter and buffer) that Python's torch.load reads. Atomic (temporary
/// file + rename). Throws IoError.
void export_state_dict(UNet3d& model, const std::filesystem::path& file);

/// `info` as JSON text, keys as in model.yaml (for `medseg model info
/// --json` and the GUI); the preprocessing plan and fingerprint are nested
/// objects.
std::string bundle_info_to_json(const BundleInfo& info);

}  // namespace medseg::models
