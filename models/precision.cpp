#include "models/precision.h"

#include <iostream>
#include <mutex>

#include "core/enum_names.h"
#include "models/precision_measurement.h"

namespace medseg::models {
namespace {

constexpr core::EnumNames<Precision, 3> kNames{
    "precision", {{{Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}}}};

}  // namespace

std::string to_string(Precision precision) { return kNames.name(precision); }

Precision parse_precision(std::string_view name) { return kNames.parse(name); }

AutoPrecisionRule auto_precision_rule(const CpuFeatures& cpu) {
  if (!cpu.native_bf16()) return AutoPrecisionRule::kNoNativeBf16;
  if (cpu.usable_amx_bf16()) return AutoPrecisionRule::kAmx;
  return AutoPrecisionRule::kMeasured;
}

std::string describe(AutoPrecisionRule rule) {
  switch (rule) {
    case AutoPrecisionRule::kNoNativeBf16: return "no native bf16";
    case AutoPrecisionRule::kAmx: return "AMX-BF16";
    case AutoPrecisionRule::kMeasured: return "AVX512_BF16 without AMX: measured";
  }
  return "?";
}

Precision resolve_precision(Precision requested, const CpuFeatures& cpu, Precision measured) {
  if (requested != Precision::kAuto) return requested;
  switch (auto_precision_rule(cpu)) {
    case AutoPrecisionRule::kNoNativeBf16: return Precision::kFp32;
    case AutoPrecisionRule::kAmx: return Precision::kBf16;
    case AutoPrecisionRule::kMeasured: return measured == Precision::kBf16 ? Precision::kBf16 : Precision::kFp32;
  }
  return Precision::kFp32;
}

std::string bf16_emulation_warning(Precision requested, const CpuFeatures& cpu) {
  if (requested != Precision::kBf16 || cpu.native_bf16()) return {};
  return "bf16 requested, but this CPU (" + cpu.isa_summary() +
         ") has no native bf16 instructions (AVX512_BF16 or AMX-BF16): it is emulated, about 13x "
         "slower than fp32; use --precision auto or fp32";
}

Precision resolve_precision(Precision requested) {
  const CpuFeatures& cpu = cpu_features();
  const std::string warning = bf16_emulation_warning(requested, cpu);
  if (!warning.empty()) {
    static std::once_flag once;
    std::call_once(once, [&warning] { std::cerr << "medseg: warning: " << warning << "\n"; });
  }
  if (requested != Precision::kAuto || auto_precision_rule(cpu) != AutoPrecisionRule::kMeasured) {
    return resolve_precision(requested, cpu, Precision::kFp32);
  }
  static const Precision measured = measured_precision(cpu).precision;
  return resolve_precision(requested, cpu, measured);
}

}  // namespace medseg::models
