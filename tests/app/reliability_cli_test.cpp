// Issue 17 through the real binary: a DICOM file that makes GDCM abort, a
// header beyond --max-voxels and overflowing YAML numbers are each one
// line on stderr and exit 2, never a dead process or library noise.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/app/cli_helpers.h"

namespace {
namespace fs = std::filesystem;
using namespace medseg::test;
using medseg::test::medseg;

const fs::path kSamples = fs::path(MEDSEG_SOURCE_DIR) / "data_samples";
const fs::path kCtSmall = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

// CT_small.dcm cut inside its meta header: Debian's GDCM asserts on it.
void write_aborting_dicom(const fs::path& file) {
  std::ifstream in(kCtSmall, std::ios::binary);
  std::string head(300, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  write_text(file, head);
}

TEST(ReliabilityCli, DicomFileThatAbortsGdcmIsOneLineNamingIt) {
  ASSERT_TRUE(fs::exists(kCtSmall)) << "scripts/setup.sh installs python3-pydicom";
  TempDir dir;
  fs::create_directories(dir / "series");
  fs::copy_file(kCtSmall, dir / "series" / "ct.dcm");
  write_aborting_dicom(dir / "series" / "broken.dcm");
  for (const fs::path& path : {dir / "series", dir / "series" / "broken.dcm"}) {
    const Result r = medseg("info " + quoted(path));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_HAS(r.err, "file 'broken.dcm' crashes the DICOM decoder (GDCM, signal 6: ");
    EXPECT_HAS(r.err, "Assertion");
  }
}

TEST(ReliabilityCli, MaxVoxelsRefusesLargerHeadersBeforeReadingAndCanBeRaised) {
  const fs::path t1 = kSamples / "mri" / "t1.nii.gz";  // 91x109x91 = 902629 voxels
  Result r = medseg("info --max-voxels 902628 " + quoted(t1));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "the header claims 91x109x91 = 902629 voxels, more than the limit of 902628");
  r = medseg("--max-voxels 902629 info " + quoted(t1));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = medseg("info --max-voxels 0 " + quoted(t1));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_HAS(medseg("--help").out, "--max-voxels");
}

TEST(ReliabilityCli, TrainConfigOverflowIsBadInputWithKeyAndLine) {
  TempDir dir;
  write_text(dir / "c.yaml", "dataset:\n  synthetic: {count: 4, size: 32}\ntraining:\n  learning_rate: 1e309\n");
  const Result r = medseg("train --print-config " + quoted(dir / "c.yaml"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "key 'training.learning_rate', line 4: '1e309' is out of the range of numbers");
}

}  // namespace
