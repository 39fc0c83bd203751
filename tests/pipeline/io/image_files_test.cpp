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

namespace medseg::pipeline {

TEST(ImageFiles, NnUnetChannelStemsSplitAndJoinByHand) {
  const auto c = split_channel_stem("ct_0003");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->case_id, "ct");
  EXPECT_EQ(c->channel, 3u);
  const auto nested = split_channel_stem("a_b_0012");
  ASSERT_TRUE(nested.has_value());
  EXPECT_EQ(nested->case_id, "a_b");
  EXPECT_EQ(nested->channel, 12u);
  for (const char* not_a_channel : {"ct_003", "ct_00a1", "ct0000", "_0000", "ct_00001x", ""}) {
    EXPECT_FALSE(split_channel_stem(not_a_channel).has_value()) << not_a_channel;
  }
  EXPECT_EQ(channel_stem("case", 0), "case_0000");
  EXPECT_EQ(channel_stem("case", 12), "case_0012");
  EXPECT_EQ(channel_stem("case", 12345), "case_12345");
}

}  // namespace medseg::pipeline
