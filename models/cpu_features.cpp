#include "models/cpu_features.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MEDSEG_X86 1
#endif

namespace medseg::models {
namespace {

#ifdef MEDSEG_X86
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

bool cpuid(unsigned leaf, unsigned subleaf, Registers& r) {
  if (static_cast<unsigned>(__get_cpuid_max(leaf & 0x80000000u, nullptr)) < leaf) return false;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return true;
}

// Extended control register 0: which register states the OS saves on a
// context switch. An instruction set whose state the OS does not save
// cannot be used even when CPUID lists it.
std::uint64_t xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

bool bit(unsigned value, int b) { return ((value >> b) & 1u) != 0; }

std::string brand_string() {
  std::array<unsigned, 12> words{};
  Registers r;
  for (unsigned i = 0; i < 3; ++i) {
    if (!cpuid(0x80000002u + i, 0, r)) return {};
    words[i * 4 + 0] = r.eax;
    words[i * 4 + 1] = r.ebx;
    words[i * 4 + 2] = r.ecx;
    words[i * 4 + 3] = r.edx;
  }
  char text[49] = {};
  std::memcpy(text, words.data(), 48);
  std::string s(text);
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

void read_cpuid(CpuFeatures& f) {
  Registers r;
  if (!cpuid(1, 0, r)) return;
  // Family/model as Linux shows them (/proc/cpuinfo): CPUs with one brand
  // string under a hypervisor ("Intel(R) Xeon(R) Processor") are told apart.
  const unsigned family = (r.eax >> 8) & 0xf, model = (r.eax >> 4) & 0xf;
  const unsigned shown_family = family == 0xf ? family + ((r.eax >> 20) & 0xff) : family;
  const unsigned shown_model = family == 0x6 || family == 0xf ? model + (((r.eax >> 16) & 0xf) << 4) : model;
  f.signature = "family " + std::to_string(shown_family) + " model " + std::to_string(shown_model) +
                " stepping " + std::to_string(r.eax & 0xf);
  const bool osxsave = bit(r.ecx, 27);
  f.fma = bit(r.ecx, 12);
  const std::uint64_t xcr = osxsave ? xcr0() : 0;
  const bool os_avx = (xcr & 0x6) == 0x6;             // XMM + YMM state
  const bool os_avx512 = os_avx && (xcr & 0xe0) == 0xe0;  // opmask + ZMM state
  const bool os_amx = (xcr & 0x60000) == 0x60000;     // XTILECFG + XTILEDATA
  f.fma = f.fma && os_avx;
  if (!cpuid(7, 0, r)) return;
  const Registers leaf7 = r;
  f.avx2 = os_avx && bit(leaf7.ebx, 5);
  f.avx512f = os_avx512 && bit(leaf7.ebx, 16);
  f.amx_bf16 = os_amx && bit(leaf7.edx, 22);
  if (leaf7.eax >= 1 && cpuid(7, 1, r)) f.avx512_bf16 = f.avx512f && bit(r.eax, 5);
}
#endif

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

CpuFeatures detect() {
  CpuFeatures f;
#ifdef MEDSEG_X86
  f.model_name = brand_string();
  read_cpuid(f);
#endif
  // oneDNN reads ONEDNN_MAX_CPU_ISA first, then the older DNNL_ name.
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      f.onednn_isa_cap = upper(value);
      break;
    }
  }
  return f;
}

}  // namespace

bool onednn_cap_allows_bf16(const std::string& cap) {
  // oneDNN's ISA names below AVX512_CORE_BF16 (oneDNN 2.6 docs, "CPU ISA
  // hints"); anything else (ALL, AVX512_CORE_BF16, AVX512_CORE_AMX, newer
  // names) leaves bf16 instructions available.
  static constexpr std::array<const char*, 8> kBelowBf16{
      "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_MIC", "AVX512_MIC_4OPS", "AVX512_CORE",
      "AVX512_CORE_VNNI"};
  const std::string u = upper(cap);
  return std::none_of(kBelowBf16.begin(), kBelowBf16.end(), [&u](const char* n) { return u == n; });
}

bool onednn_cap_allows_amx(const std::string& cap) {
  // AMX kernels are dispatched from AVX512_CORE_AMX up; every older name
  // (the ones below bf16, and AVX512_CORE_BF16) stops below them.
  const std::string u = upper(cap);
  return onednn_cap_allows_bf16(u) && u != "AVX512_CORE_BF16";
}

bool CpuFeatures::native_bf16() const {
  return (avx512_bf16 || amx_bf16) && onednn_cap_allows_bf16(onednn_isa_cap);
}

bool CpuFeatures::usable_amx_bf16() const { return amx_bf16 && onednn_cap_allows_amx(onednn_isa_cap); }

std::string CpuFeatures::isa_summary() const {
  std::string s;
  const auto add = [&s](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(avx2, "AVX2");
  add(fma, "FMA");
  add(avx512f, "AVX512F");
  add(avx512_bf16, "AVX512_BF16");
  add(amx_bf16, "AMX_BF16");
  if (s.empty()) s = "no AVX2";
  if (!onednn_isa_cap.empty()) s += " (oneDNN cap " + onednn_isa_cap + ")";
  return s;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace medseg::models
