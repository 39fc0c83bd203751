#pragma once
// One description of the network for both places that spell it out: the
// `model:` section of a training config and the `architecture:` section of
// a bundle's model.yaml. Both use the same nested keys, read and written by
// the pair of functions below, straight into UNet3dOptions/NormOptions.
// Adding a setting takes two edits (docs/models.md, "Adding a network
// setting"): a TORCH_ARG with its default in unet3d.h or norm.h, and one
// line each in read_architecture/architecture_json (architecture.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "core/yaml_fields.h"
#include "models/unet3d.h"

namespace YAML {
class Emitter;
}

namespace medseg::models {

/// Which keys a description holds.
enum class ArchitectureKeys {
  /// model.yaml: every key, all required (a bundle is complete).
  kComplete,
  /// A training config's `model:` section: what the data decides
  /// (in_channels, num_classes, norm.num_domains) is left out, every key is
  /// optional, and the flat keys of older configs are accepted as aliases:
  /// norm: NAME (for norm.kind), num_groups, norm_momentum, norm_eps,
  /// domain_affine, renorm_r_max, renorm_d_max, renorm_warmup_steps.
  kTrainingConfig,
};

/// Reads the mapping `fields` into `options`; keys absent from a training
/// config keep the value `options` has. Errors (unknown key, wrong type,
/// out of range, missing in model.yaml) name the file, key and line.
void read_architecture(const core::Fields& fields, ArchitectureKeys keys, UNet3dOptions& options);

/// Writes the mapping at the emitter's position (a value). A training
/// config's section also holds the scanner `domains` (left out when empty).
void write_architecture(YAML::Emitter& out, const UNet3dOptions& options, ArchitectureKeys keys,
                        const std::vector<std::string>& domains = {});

/// What a training config starts from: the library defaults of UNet3dOptions
/// and NormOptions, with deep supervision on (nnU-Net trains with it; the
/// library default is off so that a bare network has one output).
UNet3dOptions training_defaults();

}  // namespace medseg::models
