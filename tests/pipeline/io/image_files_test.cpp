#include "pipeline/io/image_files.h"

#include <gtest/gtest.h>

namespace medseg::pipeline {
namespace {

TEST(ImageFiles, CaseIdsDropTheImageExtensionWhateverItsCase) {
  EXPECT_EQ(case_id_of("/data/ct_001.nii.gz"), "ct_001");
  EXPECT_EQ(case_id_of("ct_001.NII.GZ"), "ct_001");
  EXPECT_EQ(case_id_of("brain.nii"), "brain");
  EXPECT_EQ(case_id_of("a.b.nrrd"), "a.b");
  EXPECT_EQ(case_id_of("head.nhdr"), "head");  // NRRD header + data file
  EXPECT_EQ(case_id_of("t1.mhd"), "t1");
  EXPECT_EQ(case_id_of("t1.mha"), "t1");
  EXPECT_EQ(case_id_of("slice.dcm"), "slice");
  EXPECT_EQ(case_id_of("notes.txt"), "");
  EXPECT_EQ(case_id_of(".nii.gz"), "");  // an extension alone is no case
  EXPECT_EQ(image_extension("X.Nii.Gz"), ".nii.gz");
  EXPECT_EQ(image_extension("x.gz"), "");
}

}  // namespace
}  // namespace medseg::pipeline
