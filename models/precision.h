#pragma once
// The arithmetic precision of the network's convolutions, and how "auto"
// becomes one of them on the running CPU (models/cpu_features.h).
#include <string>
#include <string_view>

#include "models/cpu_features.h"

namespace medseg::models {

enum class Precision {
  kAuto,  ///< bf16 where the CPU executes it natively, fp32 otherwise
  kFp32,  ///< float32 throughout
  kBf16,  ///< bfloat16 autocast for convolutions (reductions stay float32)
};

/// Parses "auto", "fp32" or "bf16"; throws ConfigError naming them otherwise.
Precision parse_precision(std::string_view name);
/// The configuration name ("auto", "fp32", "bf16").
std::string to_string(Precision precision);

/// How "auto" decides on a CPU.
enum class AutoPrecisionRule {
  kNoNativeBf16,  ///< fp32: oneDNN would emulate bf16, ~13x slower
  kAmx,           ///< bf16: AMX-BF16 tiles, ~1.9x faster than fp32 (measured)
  /// AVX512_BF16 without usable AMX: the faster of the two, measured on the
  /// CPU (models/precision_measurement.h). bf16 was ~30 % faster on one such
  /// CPU and ~25 % slower on another (docs/performance.md), so no rule on
  /// the flags alone keeps "auto" within 10 % of the better choice.
  kMeasured,
};
AutoPrecisionRule auto_precision_rule(const CpuFeatures& cpu);
/// "no native bf16", "AMX-BF16", "AVX512_BF16 without AMX: measured".
std::string describe(AutoPrecisionRule rule);

/// The precision to run with on a CPU described by `cpu`: kAuto follows
/// auto_precision_rule(cpu), taking `measured` (the faster precision on
/// this CPU) where the rule is kMeasured; explicit choices are kept.
/// Never returns kAuto.
Precision resolve_precision(Precision requested, const CpuFeatures& cpu, Precision measured);

/// The warning for an explicit bf16 on a CPU that only emulates it, or
/// empty when there is nothing to warn about.
std::string bf16_emulation_warning(Precision requested, const CpuFeatures& cpu);

/// resolve_precision() on this machine, with the measured choice from
/// measured_precision() (cached per user; measured once per process at most,
/// and only where the rule is kMeasured). The first time an explicit bf16
/// meets a CPU without native bf16, writes the warning to stderr (once per
/// process: a batch of 100 cases warns once).
Precision resolve_precision(Precision requested);

}  // namespace medseg::models
