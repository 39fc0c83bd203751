// Precision names, "auto" on injected CPU descriptions, and CPU detection
// checked against the kernel's own reading of CPUID (/proc/cpuinfo flags).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "models/cpu_features.h"
#include "core/error.h"
#include "models/precision.h"

namespace medseg::models {
namespace {

CpuFeatures avx2_only() {
  CpuFeatures cpu;
  cpu.model_name = "AMD EPYC (AVX2 only)";
  cpu.avx2 = cpu.fma = true;
  return cpu;
}

CpuFeatures avx512_bf16() {
  CpuFeatures cpu = avx2_only();
  cpu.model_name = "Intel Xeon (AVX512_BF16)";
  cpu.avx512f = cpu.avx512_bf16 = true;
  return cpu;
}

CpuFeatures amx_only_bf16() {
  CpuFeatures cpu = avx2_only();
  cpu.avx512f = true;
  cpu.amx_bf16 = true;
  return cpu;
}

std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

}  // namespace

TEST(Precision, NamesRoundTripAndUnknownNamesListTheAcceptedOnes) {
  for (const Precision p : {Precision::kAuto, Precision::kFp32, Precision::kBf16}) {
    EXPECT_EQ(parse_precision(to_string(p)), p);
  }
  EXPECT_EQ(to_string(Precision::kAuto), "auto");
  EXPECT_EQ(to_string(Precision::kFp32), "fp32");
  EXPECT_EQ(to_string(Precision::kBf16), "bf16");
  try {
    parse_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'fp16'"), std::string::npos) << message;
    EXPECT_NE(message.find("auto, fp32, bf16"), std::string::npos) << message;
  }
}

TEST(Precision, AutoIsFp32WithoutNativeBf16Bf16WithAmxAndMeasuredInBetween) {
  CpuFeatures avx512_without_bf16 = avx2_only();
  avx512_without_bf16.avx512f = true;
  for (const CpuFeatures& cpu : {avx2_only(), avx512_without_bf16, CpuFeatures{}}) {
    EXPECT_EQ(auto_precision_rule(cpu), AutoPrecisionRule::kNoNativeBf16);
    // A measurement never turns emulated bf16 on.
    EXPECT_EQ(resolve_precision(Precision::kAuto, cpu, Precision::kBf16), Precision::kFp32);
  }
  EXPECT_EQ(auto_precision_rule(amx_only_bf16()), AutoPrecisionRule::kAmx);
  CpuFeatures amx_and_avx512_bf16 = avx512_bf16();
  amx_and_avx512_bf16.amx_bf16 = true;
  for (const CpuFeatures& cpu : {amx_only_bf16(), amx_and_avx512_bf16}) {
    EXPECT_EQ(resolve_precision(Precision::kAuto, cpu, Precision::kFp32), Precision::kBf16);
  }
  EXPECT_EQ(auto_precision_rule(avx512_bf16()), AutoPrecisionRule::kMeasured);
  EXPECT_EQ(resolve_precision(Precision::kAuto, avx512_bf16(), Precision::kFp32), Precision::kFp32);
  EXPECT_EQ(resolve_precision(Precision::kAuto, avx512_bf16(), Precision::kBf16), Precision::kBf16);
}

TEST(Precision, ExplicitChoicesAreKeptOnEveryCpu) {
  for (const CpuFeatures& cpu : {avx2_only(), avx512_bf16(), amx_only_bf16()}) {
    for (const Precision measured : {Precision::kFp32, Precision::kBf16}) {
      EXPECT_EQ(resolve_precision(Precision::kFp32, cpu, measured), Precision::kFp32);
      EXPECT_EQ(resolve_precision(Precision::kBf16, cpu, measured), Precision::kBf16);
    }
  }
}

TEST(Precision, AOneDnnIsaCapBelowBf16MakesAutoFp32AndBelowAmxMakesItMeasured) {
  CpuFeatures cpu = avx512_bf16();
  cpu.amx_bf16 = true;
  for (const char* cap : {"AVX2", "avx512_core", "AVX512_CORE_VNNI", "SSE41"}) {
    cpu.onednn_isa_cap = cap;
    EXPECT_FALSE(cpu.native_bf16()) << cap;
    EXPECT_EQ(auto_precision_rule(cpu), AutoPrecisionRule::kNoNativeBf16) << cap;
    EXPECT_EQ(resolve_precision(Precision::kAuto, cpu, Precision::kBf16), Precision::kFp32) << cap;
  }
  cpu.onednn_isa_cap = "avx512_core_bf16";  // AVX512_BF16 kernels, no AMX ones
  EXPECT_TRUE(cpu.native_bf16());
  EXPECT_FALSE(cpu.usable_amx_bf16());
  EXPECT_EQ(auto_precision_rule(cpu), AutoPrecisionRule::kMeasured);
  for (const char* cap : {"ALL", "AVX512_CORE_AMX", ""}) {
    cpu.onednn_isa_cap = cap;
    EXPECT_TRUE(cpu.usable_amx_bf16()) << cap;
    EXPECT_EQ(resolve_precision(Precision::kAuto, cpu, Precision::kFp32), Precision::kBf16) << cap;
  }
}

TEST(Precision, ExplicitBf16WithoutNativeSupportWarnsNamingTheIsa) {
  const std::string warning = bf16_emulation_warning(Precision::kBf16, avx2_only());
  EXPECT_NE(warning.find("AVX2 FMA"), std::string::npos) << warning;
  EXPECT_NE(warning.find("slower than fp32"), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos) << "one line";
  EXPECT_TRUE(bf16_emulation_warning(Precision::kBf16, avx512_bf16()).empty());
  EXPECT_TRUE(bf16_emulation_warning(Precision::kAuto, avx2_only()).empty());
  EXPECT_TRUE(bf16_emulation_warning(Precision::kFp32, avx2_only()).empty());
}

TEST(CpuFeatures, DetectionAgreesWithTheKernelsCpuinfoFlags) {
  const std::set<std::string> flags = proc_cpuinfo_flags();
  ASSERT_FALSE(flags.empty()) << "no flags line in /proc/cpuinfo";
  CpuFeatures detected = cpu_features();
  EXPECT_EQ(detected.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(detected.fma, flags.count("fma") == 1);
  EXPECT_EQ(detected.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(detected.avx512_bf16, flags.count("avx512_bf16") == 1);
  EXPECT_EQ(detected.amx_bf16, flags.count("amx_bf16") == 1);
  detected.onednn_isa_cap.clear();
  const AutoPrecisionRule expected = flags.count("amx_bf16") == 1      ? AutoPrecisionRule::kAmx
                                     : flags.count("avx512_bf16") == 1 ? AutoPrecisionRule::kMeasured
                                                                       : AutoPrecisionRule::kNoNativeBf16;
  EXPECT_EQ(auto_precision_rule(detected), expected);
}

// The signature is what Linux shows as "cpu family", "model" and "stepping".
TEST(CpuFeatures, SignatureAgreesWithTheKernelsCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, family, model, stepping;
  const auto value = [&line] { return line.substr(line.find(':') + 2); };
  while (std::getline(in, line) && (family.empty() || model.empty() || stepping.empty())) {
    if (line.rfind("cpu family", 0) == 0) family = value();
    if (line.rfind("model\t", 0) == 0) model = value();
    if (line.rfind("stepping", 0) == 0) stepping = value();
  }
  ASSERT_FALSE(family.empty() || model.empty() || stepping.empty());
  EXPECT_EQ(cpu_features().signature, "family " + family + " model " + model + " stepping " + stepping);
}

}  // namespace medseg::models
