#pragma once
// What this CPU can execute natively, read at run time. The same build runs on
// machines of one kind with AVX-512 + AVX512-BF16 (+ AMX) and on machines with
// only AVX2 + FMA; bf16 convolutions are several times faster than fp32 on the
// first and ~13x slower (emulated by oneDNN) on the second, so medseg decides
// the precision from this description instead of hard-coding it.
#include <string>

namespace medseg::models {

/// Instruction-set facts relevant to LibTorch's CPU kernels (oneDNN).
struct CpuFeatures {
  /// CPUID brand string, e.g. "AMD EPYC 7B13" (empty when unknown).
  std::string model_name;
  /// CPUID family, model and stepping, e.g. "family 6 model 207 stepping 2"
  /// (empty when unknown): a virtual machine's brand string may not say
  /// which CPU it is.
  std::string signature;
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  /// AVX512_BF16 (vdpbf16ps), usable only with the OS saving AVX-512 state.
  bool avx512_bf16 = false;
  /// AMX tiles with bf16 (Sapphire Rapids and later), with OS tile state.
  bool amx_bf16 = false;
  /// The oneDNN ISA cap from ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, upper
  /// case, empty when unset. oneDNN never dispatches above it, so a cap below
  /// AVX512_CORE_BF16 makes bf16 emulated even on a CPU that has it.
  std::string onednn_isa_cap;

  /// True when bf16 convolutions run on bf16 hardware instructions.
  bool native_bf16() const;
  /// True when oneDNN may use the AMX-BF16 tiles (present and not capped).
  bool usable_amx_bf16() const;
  /// Space-separated flags, e.g. "AVX2 FMA AVX512F AVX512_BF16 AMX_BF16";
  /// followed by "(oneDNN cap AVX2)" when a cap is set.
  std::string isa_summary() const;
};

/// Reads CPUID/XGETBV of the running CPU and the oneDNN cap from the
/// environment. Cheap; the result is computed once per process.
const CpuFeatures& cpu_features();

/// Whether a oneDNN ISA cap name (ONEDNN_MAX_CPU_ISA values such as "AVX2",
/// "AVX512_CORE", "AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL") still allows
/// native bf16 instructions. Unknown names are taken as no cap.
bool onednn_cap_allows_bf16(const std::string& cap);
/// The same for AMX kernels (AVX512_CORE_AMX and above).
bool onednn_cap_allows_amx(const std::string& cap);

}  // namespace medseg::models
