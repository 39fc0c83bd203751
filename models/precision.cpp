#include "models/precision.h"

#include <iostream>
#include <mutex>

#include "core/enum_names.h"

namespace medseg::models {
namespace {

constexpr core::EnumNames<Precision, 3> kNames{
    "precision", {{{Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}}}};

}  // namespace

std::string to_string(Precision precision) { return kNames.name(precision); }

Precision parse_precision(std::string_view name) { return kNames.parse(name); }

Precision resolve_precision(Precision requested, const CpuFeatures& cpu) {
  if (requested != Precision::kAuto) return requested;
  return cpu.native_bf16() ? Precision::kBf16 : Precision::kFp32;
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
  return resolve_precision(requested, cpu);
}

}  // namespace medseg::models
