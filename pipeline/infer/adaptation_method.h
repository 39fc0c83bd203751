#pragma once
// The names of the label-free adaptation methods (adaptation.h), kept apart
// from the adaptation itself so that configs and the command line can parse
// them without LibTorch's headers.
#include <string>
#include <vector>

namespace medseg::pipeline {

/// `--adapt-method`: adabn | prior | tent.
enum class AdaptationMethod {
  /// Every sliding window, exact pooled statistics, source forgotten.
  kAdaBN,
  /// Windows drawn like training patches, per-batch averaged statistics,
  /// mixed with the source statistics with weight N / (N + n).
  kPrior,
  /// kPrior, then a few steps minimising the prediction entropy over the
  /// batch-norm scale/shift only.
  kTent,
};
AdaptationMethod parse_adaptation_method(const std::string& name);  ///< throws ConfigError
std::string to_string(AdaptationMethod method);
/// `--adapt-method prior,adabn`: one or more distinct methods, comma-separated
/// (throws ConfigError naming the bad entry).
std::vector<AdaptationMethod> parse_adaptation_methods(const std::string& names);
/// The same for a list of names (model.yaml / config `adaptation.methods`).
std::vector<AdaptationMethod> parse_adaptation_methods(const std::vector<std::string>& names);
std::string to_string(const std::vector<AdaptationMethod>& methods);  ///< "prior,adabn"

/// What `medseg infer --domain auto` tries for a bundle that names no methods
/// of its own (model.yaml `adaptation.methods`).
inline const std::vector<AdaptationMethod> kDefaultAdaptMethods{AdaptationMethod::kPrior, AdaptationMethod::kAdaBN};

}  // namespace medseg::pipeline
