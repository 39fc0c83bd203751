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

/// The precision to run with on a CPU described by `cpu`: kAuto becomes
/// kBf16 when cpu.native_bf16(), else kFp32; explicit choices are kept.
/// Never returns kAuto.
Precision resolve_precision(Precision requested, const CpuFeatures& cpu);

/// The warning for an explicit bf16 on a CPU that only emulates it, or
/// empty when there is nothing to warn about.
std::string bf16_emulation_warning(Precision requested, const CpuFeatures& cpu);

/// resolve_precision() on this machine. The first time an explicit bf16
/// meets a CPU without native bf16, writes the warning to stderr (once per
/// process: a batch of 100 cases warns once).
Precision resolve_precision(Precision requested);

}  // namespace medseg::models
