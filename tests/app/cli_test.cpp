// Smoke tests of the real medseg binary: exit codes, one-line errors, JSON
// geometry checked against nibabel (an independent reader).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "tests/app/cli_helpers.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace medseg::test;
using TempDir = CliTempDir;
using medseg::test::medseg;

const fs::path kSource = MEDSEG_SOURCE_DIR;
const fs::path kSamples = kSource / "data_samples";
const fs::path kPydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
// Debian's Python, where scripts/setup.sh installs python3-nibabel and
// python3-numpy (not the python3 first on PATH).
const char* const kPython = "/usr/bin/python3";
const char* const kSetupHint = " (scripts/setup.sh installs it: run it)";

TEST(Cli, VersionAndHelp) {
  const Result v = medseg("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("medseg 0."), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("LibTorch"), std::string::npos) << v.out;
  const Result h = medseg("--help");
  EXPECT_EQ(h.exit_code, 0);
  for (const char* sub : {"info", "dataset", "synth", "make-samples", "system"}) {
    EXPECT_NE(h.out.find(sub), std::string::npos) << sub;
  }
}

TEST(Cli, UnknownOptionIsBadInput) {
  const Result r = medseg("info --no-such-option x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, UsesAllCoresUnlessThreadsIsGiven) {
  const json all = json::parse(medseg("system --json").out);
  EXPECT_EQ(all["threads"], all["hardware_threads"]);
  const json one = json::parse(medseg("--threads 1 system --json").out);
  EXPECT_EQ(one["threads"], 1);
}

// The CPU description is checked against the kernel's own CPUID reading
// (/proc/cpuinfo); a oneDNN ISA cap below bf16 makes auto fp32 on any CPU.
TEST(Cli, SystemReportsTheIsaAndThePrecisionAutoPicks) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::string flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  }
  ASSERT_FALSE(flags.empty());
  const auto has = [&flags](const std::string& f) { return flags.find(" " + f + " ") != std::string::npos; };
  const Result r = medseg("system --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["cpu"]["avx2"], has("avx2"));
  EXPECT_EQ(j["cpu"]["avx512f"], has("avx512f"));
  EXPECT_EQ(j["cpu"]["avx512_bf16"], has("avx512_bf16"));
  EXPECT_EQ(j["cpu"]["amx_bf16"], has("amx_bf16"));
  // auto: fp32 without native bf16, bf16 with AMX, measured on AVX512_BF16
  // without AMX. Run with an empty cache of its own: a measuring CPU stores
  // its times there and the second run reads them; the others measure nothing.
  CliTempDir cache;
  const std::string with_cache = "XDG_CACHE_HOME=" + quoted(cache.path()) + " '" + MEDSEG_BINARY + "' system --json";
  const Result first = run(with_cache);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const json f = json::parse(first.out);
  const fs::path cache_file = cache / "medseg" / "precision.json";
  if (has("amx_bf16")) {
    EXPECT_EQ(f["auto_precision"], "bf16");
    EXPECT_EQ(f["auto_precision_rule"], "AMX-BF16");
  } else if (has("avx512_bf16")) {
    const json m = f["auto_precision_measurement"];
    ASSERT_TRUE(m.is_object()) << first.out;
    EXPECT_FALSE(m["from_cache"].get<bool>());
    EXPECT_EQ(m["cache_file"], cache_file.string());
    const double fp32 = m["fp32_seconds"], bf16 = m["bf16_seconds"];
    EXPECT_GT(fp32, 0.0);
    EXPECT_EQ(f["auto_precision"], bf16 <= 0.95 * fp32 ? "bf16" : "fp32") << first.out;
    const json second = json::parse(run(with_cache).out);
    EXPECT_TRUE(second["auto_precision_measurement"]["from_cache"].get<bool>());
    EXPECT_EQ(second["auto_precision_measurement"]["bf16_seconds"].get<double>(), bf16);
    EXPECT_EQ(second["auto_precision"], f["auto_precision"]);
  } else {
    EXPECT_EQ(f["auto_precision"], "fp32");
    EXPECT_EQ(f["auto_precision_rule"], "no native bf16");
  }
  EXPECT_EQ(fs::exists(cache_file), !has("amx_bf16") && has("avx512_bf16"));

  const Result capped = run("ONEDNN_MAX_CPU_ISA=avx512_core '" + std::string(MEDSEG_BINARY) + "' system");
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  EXPECT_NE(capped.out.find("precision auto   fp32"), std::string::npos) << capped.out;
  EXPECT_NE(capped.out.find("oneDNN cap AVX512_CORE"), std::string::npos) << capped.out;
}

TEST(Cli, InfoPrintsEverySample) {
  const Result r = medseg("info " + quoted(kSamples / "mri/t1.nii.gz") + " " +
                          quoted(kSamples / "mri/brain_mask.nii.gz") + " " +
                          quoted(kSamples / "ct/head_ct.nii.gz") + " " +
                          quoted(kSamples / "ct/head_ct_labels.nii.gz"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  // Every sample: its path, then its details.
  for (const char* name : {"mri/t1.nii.gz", "mri/brain_mask.nii.gz", "ct/head_ct.nii.gz", "ct/head_ct_labels.nii.gz"}) {
    EXPECT_NE(r.out.find((kSamples / name).string() + "\n  size "), std::string::npos) << name << "\n" << r.out;
  }
  std::size_t sizes = 0;
  for (std::size_t at = r.out.find("\n  size "); at != std::string::npos; at = r.out.find("\n  size ", at + 1)) ++sizes;
  EXPECT_EQ(sizes, 4u) << r.out;
  EXPECT_NE(r.out.find("91 x 109 x 91 voxels"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("orientation RAS"), std::string::npos);
  EXPECT_NE(r.out.find("pixel type   int16"), std::string::npos);
}

// nibabel reads the NIfTI affine independently of ITK; converting RAS to
// LPS negates the first two rows.
TEST(Cli, InfoJsonGeometryMatchesNibabel) {
  ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing" << kSetupHint;
  const Result has_nibabel = run(std::string(kPython) + " -c 'import nibabel'");
  ASSERT_EQ(has_nibabel.exit_code, 0) << "python3-nibabel" << kSetupHint << ": " << has_nibabel.err;
  for (const char* name : {"mri/t1.nii.gz", "ct/head_ct.nii.gz"}) {
    SCOPED_TRACE(name);
    const fs::path file = kSamples / name;
    const Result ours = medseg("info --json " + quoted(file));
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    const json info = json::parse(ours.out).at(0);
    const std::string script =
        "import json, sys, nibabel as nib, numpy as np\n"
        "img = nib.load(sys.argv[1]); a = img.affine.copy(); a[:2] *= -1\n"
        "sp = np.linalg.norm(a[:3, :3], axis=0)\n"
        "print(json.dumps({'shape': list(map(int, img.shape)), 'origin': a[:3, 3].tolist(),\n"
        "  'spacing': sp.tolist(), 'direction': (a[:3, :3] / sp).tolist(),\n"
        "  'codes': ''.join(nib.aff2axcodes(img.affine))}))\n";
    TempDir dir;
    std::ofstream(dir / "ref.py") << script;
    const Result ref = run(std::string(kPython) + " " + quoted(dir / "ref.py") + " " + quoted(file));
    ASSERT_EQ(ref.exit_code, 0) << ref.err;
    const json nib = json::parse(ref.out);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(info["size"][i].get<int>(), nib["shape"][i].get<int>());
      EXPECT_NEAR(info["origin_mm_lps"][i].get<double>(), nib["origin"][i].get<double>(), 1e-4);
      EXPECT_NEAR(info["spacing_mm"][i].get<double>(), nib["spacing"][i].get<double>(), 1e-4);
      for (int j = 0; j < 3; ++j) {
        EXPECT_NEAR(info["direction_lps"][i][j].get<double>(), nib["direction"][i][j].get<double>(),
                    1e-4);
      }
    }
    EXPECT_EQ(info["orientation"], nib["codes"]);
  }
}

TEST(Cli, InfoOnDicomFolderShowsScannerDetails) {
  ASSERT_TRUE(fs::exists(kPydicom / "CT_small.dcm")) << "python3-pydicom" << kSetupHint;
  TempDir dir;
  fs::copy_file(kPydicom / "CT_small.dcm", dir / "1.dcm");
  const Result r = medseg("info --json " + quoted(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json info = json::parse(r.out).at(0);
  EXPECT_EQ(info["dicom"]["modality"], "CT");
  EXPECT_EQ(info["dicom"]["manufacturer"], "GE MEDICAL SYSTEMS");
  EXPECT_EQ(info["dicom"]["model"], "RHAPSODE");
  EXPECT_EQ(info["pixel_type"], "int16");
}

TEST(Cli, InfoListsSeveralSeriesAndAcceptsSeries) {
  ASSERT_TRUE(fs::exists(kPydicom / "CT_small.dcm")) << "python3-pydicom" << kSetupHint;
  TempDir dir;
  fs::copy_file(kPydicom / "CT_small.dcm", dir / "ct.dcm");
  fs::copy_file(kPydicom / "MR_small.dcm", dir / "mr.dcm");
  const Result list = medseg("info " + quoted(dir.path()));
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("2 DICOM series"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457"), std::string::npos);
  const Result one = medseg("info --json --series 1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457 " +
                            quoted(dir.path()));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(json::parse(one.out).at(0)["dicom"]["modality"], "MR");
}

// Every kind of bad input the foundation issue lists: exit code 2, exactly
// one line on stderr naming the file, no crash.
TEST(Cli, BadInputGivesOneLineAndExitCodeTwo) {
  TempDir dir;
  fs::create_directories(dir / "empty");
  fs::create_directories(dir / "no_dicom");
  std::ofstream(dir / "no_dicom" / "readme.txt") << "hello\n";
  const std::string t1 = slurp(kSamples / "mri/t1.nii.gz");
  std::ofstream(dir / "truncated.nii.gz", std::ios::binary) << t1.substr(0, t1.size() / 2);
  std::ofstream(dir / "text.nii") << std::string(2000, 'x');
  // A 2D MetaImage, a zero-spacing and a negative-spacing one.
  std::ofstream(dir / "flat.mha", std::ios::binary)
      << "ObjectType = Image\nNDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n"
         "ElementDataFile = LOCAL\n" << std::string(4, '\0');
  std::ofstream(dir / "zero.mha", std::ios::binary)
      << "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementSpacing = 0 1 1\n"
         "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" << std::string(8, '\0');
  std::ofstream(dir / "negative.mha", std::ios::binary)
      << "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 1 -3\n"
         "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" << std::string(8, '\0');
  const fs::path four_d = "/usr/lib/python3/dist-packages/nibabel/tests/data/example4d.nii.gz";
  ASSERT_TRUE(fs::exists(four_d)) << four_d << " (python3-nibabel)" << kSetupHint;

  const std::vector<std::pair<fs::path, std::string>> cases{
      {dir / "missing.nii.gz", "no such file"},
      {dir / "empty", "folder is empty"},
      {dir / "no_dicom", "no DICOM series"},
      {dir / "truncated.nii.gz", "truncated"},
      {dir / "text.nii", "not a recognised image"},
      {dir / "flat.mha", "2D image"},
      {four_d, "4D image"},
      {dir / "zero.mha", "spacing along i is 0 mm"},
      {dir / "negative.mha", "spacing along k is -3 mm"},
  };
  for (const auto& [path, reason] : cases) {
    SCOPED_TRACE(path.string());
    const Result r = medseg("info " + quoted(path));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(path.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("itk::"), std::string::npos) << r.err;
  }
}

TEST(Cli, DatasetCommandPlansASoundDatasetAndListsEveryProblemOfABadOne) {
  TempDir dir;
  const std::string t1 = (kSamples / "mri/t1.nii.gz").string();
  const std::string mask = (kSamples / "mri/brain_mask.nii.gz").string();
  std::ofstream(dir / "good.yaml") << "labels: {0: background, 1: brain}\ncases:\n"
                                   << "  - {id: ch2, image: " << t1 << ", label: " << mask << "}\n";
  const Result good = medseg("dataset --json " + quoted(dir / "good.yaml"));
  ASSERT_EQ(good.exit_code, 0) << good.err;
  const json plan = json::parse(good.out);
  EXPECT_EQ(plan["preprocessing"]["target_spacing"], json::parse("[2.0, 2.0, 2.0]"));
  EXPECT_EQ(plan["label_voxels"]["1"].get<long>() + plan["label_voxels"]["0"].get<long>(), 91L * 109 * 91);

  std::ofstream(dir / "bad.yaml") << "labels: {0: background}\ncases:\n"
                                  << "  - {id: first, image: " << t1 << ", label: " << mask << "}\n"
                                  << "  - {id: second, image: " << t1 << ", label: missing.nii.gz}\n";
  const Result bad = medseg("dataset " + quoted(dir / "bad.yaml"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("2 problem(s)"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("case first"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("label value(s) 1"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("case second"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("missing.nii.gz"), std::string::npos) << bad.err;
}

TEST(Cli, EvaluateMatchesCasesByIdAndWritesCsv) {
  TempDir dir;
  ASSERT_EQ(medseg("synth --output " + quoted(dir / "s") + " --count 2 --size 24").exit_code, 0);
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  fs::copy_file(dir / "s/phantom_0000_clean_labels.nii.gz", dir / "ref/a.nii.gz");
  fs::copy_file(dir / "s/phantom_0000_clean_labels.nii.gz", dir / "pred/a.nii.gz");  // perfect
  fs::copy_file(dir / "s/phantom_0001_clean_labels.nii.gz", dir / "ref/b.nii.gz");
  fs::copy_file(dir / "s/phantom_0000_clean_labels.nii.gz", dir / "pred/b.nii.gz");  // another shape
  fs::copy_file(dir / "s/phantom_0001_clean_labels.nii.gz", dir / "ref/c.nii.gz");   // no prediction
  const Result r = medseg("evaluate --pred " + quoted(dir / "pred") + " --ref " + quoted(dir / "ref"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no prediction for reference c"), std::string::npos) << r.out;
  const std::string csv = slurp(dir / "pred/evaluation.csv");
  EXPECT_NE(csv.find("a,1,1,1,0,0,1,"), std::string::npos) << csv;  // identical: dice 1, hd95 0, nsd 1
  EXPECT_EQ(count_lines(csv), 1 + 2 * 3);                             // header + 2 cases x 3 labels
  EXPECT_NE(csv.find("\nb,2,"), std::string::npos) << csv;
  // The summary's label-1 Dice is the mean of the two per-case values.
  const std::size_t b1 = csv.find("\nb,1,") + 5;
  const double dice_b = std::stod(csv.substr(b1, csv.find(',', b1) - b1));
  const std::string summary = slurp(dir / "pred/evaluation_summary.csv");
  const std::size_t row = summary.find("\n1,dice,");
  ASSERT_NE(row, std::string::npos) << summary;
  EXPECT_NEAR(std::stod(summary.substr(row + 8)), (1.0 + dice_b) / 2, 1e-9) << summary;
  EXPECT_NE(summary.find("\n3,volume_diff_ml,"), std::string::npos) << summary;
  EXPECT_NE(r.out.find("2 case(s) evaluated, 1 reference(s) without prediction"), std::string::npos) << r.out;
}

TEST(Cli, SynthIsDeterministicAndProfilesKeepLabels) {
  TempDir dir;
  const std::string args = " --seed 3 --size 24 --profile clean --profile scanner_b";
  ASSERT_EQ(medseg("synth --output " + quoted(dir / "a") + args).exit_code, 0);
  ASSERT_EQ(medseg("synth --output " + quoted(dir / "b") + args).exit_code, 0);
  for (const char* name : {"phantom_0003_scanner_b.nii.gz", "phantom_0003_scanner_b_labels.nii.gz"}) {
    EXPECT_EQ(slurp(dir / "a" / name), slurp(dir / "b" / name)) << name;
  }
  EXPECT_EQ(slurp(dir / "a" / "phantom_0003_clean_labels.nii.gz"),
            slurp(dir / "a" / "phantom_0003_scanner_b_labels.nii.gz"));
  EXPECT_NE(slurp(dir / "a" / "phantom_0003_clean.nii.gz"),
            slurp(dir / "a" / "phantom_0003_scanner_b.nii.gz"));
  EXPECT_EQ(medseg("synth --output " + quoted(dir / "c") + " --profile nope").exit_code, 2);
}

// A bundle's model.yaml as a person would write it (docs/models.md); `model
// info` reads only this file.
const char* const kModelYaml = R"(format_version: 1
name: brain_mri_t1
version: "2"
architecture:
  in_channels: 1
  num_classes: 2
  base_features: 4
  max_features: 16
  depth: 2
  kernel_sizes: []
  strides: []
  norm: {kind: batch, num_groups: 8, num_domains: 2, domain_affine: false, eps: 1.0e-5,
         momentum: 0.1, affine: true, r_max: 3.0, d_max: 5.0, renorm_warmup_steps: 100,
         instance_levels: 1, instance_fraction: 0.5}
  negative_slope: 0.01
  deep_supervision: false
  dropout: 0.0
  upsample: pixel_shuffle
channel_names: [t1]
labels:
  - {value: 0, name: background, color: [0, 0, 0]}
  - {value: 1, name: brain, color: [255, 0, 0]}
domains: [site_a, site_b]
patch_size: [32, 32, 32]
preprocessing: {target_spacing: [1.5, 1.5, 1.5]}
provenance:
  created: "2024-05-01T12:00:00Z"
  medseg_version: "0.1.0"
  metrics: {dice/brain: 0.97, epoch: 40}
  config_yaml: ""
weights: {file: weights.pt, fnv1a64: "0123456789abcdef", tensors: 1}
)";

TEST(Cli, ModelInfoShowsABundleAndRefusesANewerFormatInOneLine) {
  TempDir dir;
  fs::create_directories(dir / "bundle");
  write_text(dir / "bundle/model.yaml", kModelYaml);
  const Result text = medseg("model info " + quoted(dir / "bundle"));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("brain_mri_t1 (version 2)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("1=brain #ff0000"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("site_a, site_b"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("norm batch (2 domains), instance norm on 50 % of the channels of the first encoder level "
                          "(IBN-a)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("dice/brain 0.97"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(">= 20 % of the body (medseg's default)"), std::string::npos) << text.out;
  write_text(dir / "bundle/model.yaml", std::string(kModelYaml) + "adaptation: {min_change: 0.05}\n");
  const Result own = medseg("model info " + quoted(dir / "bundle"));
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_NE(own.out.find(">= 5 % of the body (this model's)"), std::string::npos) << own.out;
  const Result own_json = medseg("model info --json " + quoted(dir / "bundle"));
  ASSERT_EQ(own_json.exit_code, 0) << own_json.err;
  EXPECT_EQ(json::parse(own_json.out)["adaptation"]["min_change"].get<double>(), 0.05);
  const Result j = medseg("model info --json " + quoted(dir / "bundle"));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json info = json::parse(j.out);
  EXPECT_EQ(info["architecture"]["norm"]["eps"].get<double>(), 1e-5);
  EXPECT_EQ(info["preprocessing"]["target_spacing"], json::parse("[1.5, 1.5, 1.5]"));
  EXPECT_EQ(info["patch_size"], json::parse("[32, 32, 32]"));

  // No weights.pt: export (which loads them) is bad input, not a crash.
  const Result no_weights = medseg("model export " + quoted(dir / "bundle") + " " + quoted(dir / "out.pt"));
  EXPECT_EQ(no_weights.exit_code, 2);
  EXPECT_EQ(count_lines(no_weights.err), 1) << no_weights.err;
  EXPECT_NE(no_weights.err.find("weights.pt: not found"), std::string::npos) << no_weights.err;

  std::string newer = kModelYaml;
  newer.replace(newer.find("format_version: 1"), 17, "format_version: 2");
  write_text(dir / "bundle/model.yaml", newer);
  const Result r = medseg("model info " + quoted(dir / "bundle"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("model.yaml: format version 2 is newer than this medseg supports (1); update medseg"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

namespace {

TEST(Cli, SynthShiftWritesSeededShiftsOfARealScanAndRefusesMisuse) {
  TempDir dir;
  const fs::path ct = kSamples / "ct/head_ct.nii.gz";
  const Result r = medseg("synth --from " + quoted(ct) + " --shift ct_cbct --shift ct_kernel --seed 101 --output " +
                          quoted(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cupping"), std::string::npos) << r.out;
  for (const char* name : {"head_ct_ct_cbct_s101.nii.gz", "head_ct_ct_kernel_s101.nii.gz"}) {
    const Result in = medseg("info --json " + quoted(ct));
    const Result out = medseg("info --json " + quoted(dir / name));
    ASSERT_EQ(out.exit_code, 0) << out.err;
    const json ji = json::parse(in.out).at(0), jo = json::parse(out.out).at(0);
    for (const char* key : {"size", "spacing_mm", "origin_mm_lps", "direction_lps"}) EXPECT_EQ(jo[key], ji[key]) << key;
  }
  const Result no_source = medseg("synth --shift ct_cbct --output " + quoted(dir / "x"));
  EXPECT_EQ(no_source.exit_code, 2);
  EXPECT_NE(no_source.err.find("--from"), std::string::npos) << no_source.err;
  const Result both = medseg("synth --from " + quoted(ct) + " --shift ct_cbct --profile scanner_a --output " +
                             quoted(dir / "y"));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "y"));
  EXPECT_EQ(medseg("synth --from " + quoted(ct) + " --shift fog --output " + quoted(dir / "z")).exit_code, 2);
}

TEST(Cli, SynthFromARealScanKeepsItsGridAndChangesItsContrast) {
  TempDir dir;
  const fs::path t1 = kSamples / "mri/t1.nii.gz";
  const Result r = medseg("synth --from " + quoted(t1) + " --profile scanner_a --profile scanner_c --output " +
                          quoted(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Result in = medseg("info --json " + quoted(t1));
  const Result a = medseg("info --json " + quoted(dir / "t1_scanner_a.nii.gz"));
  const Result c = medseg("info --json " + quoted(dir / "t1_scanner_c.nii.gz"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const json ji = json::parse(in.out).at(0), ja = json::parse(a.out).at(0), jc = json::parse(c.out).at(0);
  for (const char* key : {"size", "spacing_mm", "origin_mm_lps", "direction_lps"}) {
    EXPECT_EQ(ja[key], ji[key]) << key;
    EXPECT_EQ(jc[key], ji[key]) << key;
  }
  // Independent check with nibabel: scanner_a keeps the contrast polarity
  // (positive correlation with the source inside the head), scanner_c
  // inverts it (negative).
  const std::string script =
      "import sys, nibabel as nib, numpy as np\n"
      "src = np.asarray(nib.load(sys.argv[1]).dataobj, dtype=float)\n"
      "m = src > np.percentile(src, 50)\n"
      "for f in sys.argv[2:]:\n"
      "    v = np.asarray(nib.load(f).dataobj, dtype=float)\n"
      "    print(np.corrcoef(src[m], v[m])[0, 1])\n";
  std::ofstream(dir / "corr.py") << script;
  const Result corr = run(std::string(kPython) + " " + quoted(dir / "corr.py") + " " + quoted(t1) + " " +
                          quoted(dir / "t1_scanner_a.nii.gz") + " " + quoted(dir / "t1_scanner_c.nii.gz"));
  // python3-nibabel is installed by scripts/setup.sh: a failing script is a
  // failed test (nibabel cannot read our output, or the setup is broken).
  ASSERT_EQ(corr.exit_code, 0) << corr.err;
  std::istringstream values(corr.out);
  double corr_a = 0.0, corr_c = 0.0;
  values >> corr_a >> corr_c;
  EXPECT_GT(corr_a, 0.8);
  EXPECT_LT(corr_c, -0.5);
}

}  // namespace

namespace {

// Dice per label from `medseg evaluate`'s CSV (columns case,label,dice,...).
std::map<int, double> evaluate_dice(const fs::path& pred, const fs::path& ref) {
  const Result r = medseg("evaluate --pred " + quoted(pred) + " --ref " + quoted(ref) + " --csv " +
                          quoted(pred / "eval.csv"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<int, double> dice;
  std::istringstream csv(slurp(pred / "eval.csv"));
  std::string line;
  std::getline(csv, line);  // header
  while (std::getline(csv, line)) {
    std::istringstream fields(line);
    std::string id, label, value;
    std::getline(fields, id, ',');
    std::getline(fields, label, ',');
    std::getline(fields, value, ',');
    dice[std::stoi(label)] = std::stod(value);
  }
  return dice;
}

// The shipped bundles do what data_samples/models/README.md says on the
// samples they were trained on (what scripts/demo.sh shows users).
TEST(Cli, BundledModelsSegmentTheSamples) {
  TempDir dir;
  fs::create_directories(dir / "mri_ref");
  fs::create_directories(dir / "ct_ref");
  fs::copy_file(kSamples / "mri/brain_mask.nii.gz", dir / "mri_ref/t1.nii.gz");
  fs::copy_file(kSamples / "ct/head_ct_labels.nii.gz", dir / "ct_ref/head_ct.nii.gz");
  const Result mri = medseg("infer --model " + quoted(kSamples / "models/brain_mri_t1") + " " +
                            quoted(kSamples / "mri/t1.nii.gz") + " --output " + quoted(dir / "mri"));
  ASSERT_EQ(mri.exit_code, 0) << mri.out << mri.err;
  const Result ct = medseg("infer --model " + quoted(kSamples / "models/ct_head") + " " +
                           quoted(kSamples / "ct/head_ct.nii.gz") + " --output " + quoted(dir / "ct"));
  ASSERT_EQ(ct.exit_code, 0) << ct.out << ct.err;
  fs::remove(dir / "mri/summary.csv");
  fs::remove(dir / "ct/summary.csv");
  const auto brain = evaluate_dice(dir / "mri", dir / "mri_ref");
  EXPECT_GT(brain.at(1), 0.95);
  const auto head = evaluate_dice(dir / "ct", dir / "ct_ref");
  EXPECT_GT(head.at(1), 0.85);  // bone
  EXPECT_GT(head.at(2), 0.93);  // other tissue
}

}  // namespace
