#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "pipeline/data/dataset.h"
#include "pipeline/data/dataset_check.h"
#include "pipeline/data/fingerprint.h"
#include "pipeline/data/planner.h"
#include "pipeline/data/preprocessed_cache.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/preprocess/crop.h"
#include "pipeline/preprocess/reorient.h"
#include "pipeline/synth/phantom.h"
#include "tests/pipeline/common/test_files.h"

namespace medseg::pipeline {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

Phantom small_phantom(std::uint64_t seed, const char* profile = "clean") {
  PhantomOptions o;
  o.size = {20, 18, 16};
  o.spacing_mm = 4.0;
  o.seed = seed;
  return make_phantom(o, scanner_profile(profile));
}

void write_case(const Phantom& p, const fs::path& image, const fs::path& label) {
  fs::create_directories(image.parent_path());
  fs::create_directories(label.parent_path());
  write_volume(p.image, image, PixelType::kFloat32);
  write_volume(p.labels, label, PixelType::kUInt8);
}

TEST(Dataset, NnUNetLayoutLoadsCasesChannelsAndLabels) {
  TempDir dir;
  test::write_text(dir / "dataset.json", R"({"channel_names": {"0": "T1", "1": "T2"},
    "labels": {"background": 0, "organ": 1, "lesion": 2, "box": 3},
    "numTraining": 2, "file_ending": ".nii.gz", "name": "Phantoms"})");
  for (int i = 0; i < 2; ++i) {
    const Phantom p = small_phantom(i);
    const std::string id = "ph_00" + std::to_string(i);
    write_case(p, dir / "imagesTr" / (id + "_0000.nii.gz"), dir / "labelsTr" / (id + ".nii.gz"));
    write_volume(p.image, dir / "imagesTr" / (id + "_0001.nii.gz"));
  }
  const Dataset d = read_dataset(dir.path());
  EXPECT_EQ(d.name, "Phantoms");
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"T1", "T2"}));
  EXPECT_EQ(d.labels.at(2), "lesion");
  ASSERT_EQ(d.cases.size(), 2u);
  EXPECT_EQ(d.cases[1].id, "ph_001");
  EXPECT_EQ(d.cases[1].images[1], dir / "imagesTr" / "ph_001_0001.nii.gz");
  EXPECT_EQ(d.cases[0].label, dir / "labelsTr" / "ph_000.nii.gz");
  EXPECT_TRUE(check_dataset(d).empty()) << format_problems(check_dataset(d));
}

TEST(Dataset, DecathlonDatasetJsonLoads) {
  TempDir dir;
  test::write_text(dir / "dataset.json", R"({"name": "Task99_Phantom", "modality": {"0": "MRI"},
    "labels": {"0": "background", "1": "organ", "2": "lesion", "3": "box"},
    "training": [{"image": "./imagesTr/ph_0.nii.gz", "label": "./labelsTr/ph_0.nii.gz"},
                 {"image": "./imagesTr/ph_1.nii.gz", "label": "./labelsTr/ph_1.nii.gz"}],
    "test": ["./imagesTs/ph_9.nii.gz"]})");
  for (int i = 0; i < 2; ++i) {
    write_case(small_phantom(i), dir / "imagesTr" / ("ph_" + std::to_string(i) + ".nii.gz"),
               dir / "labelsTr" / ("ph_" + std::to_string(i) + ".nii.gz"));
  }
  const Dataset d = read_dataset(dir / "dataset.json");
  EXPECT_EQ(d.name, "Task99_Phantom");
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"MRI"}));
  ASSERT_EQ(d.cases.size(), 2u);
  EXPECT_EQ(d.cases[0].id, "ph_0");
  EXPECT_EQ(d.labels.size(), 4u);
  EXPECT_TRUE(check_dataset(d).empty()) << format_problems(check_dataset(d));
}

TEST(Dataset, YamlCaseListCarriesDomains) {
  TempDir dir;
  write_case(small_phantom(1, "scanner_a"), dir / "a.nii.gz", dir / "a_seg.nii.gz");
  write_case(small_phantom(2, "scanner_b"), dir / "b.nii.gz", dir / "b_seg.nii.gz");
  test::write_text(dir / "cases.yaml", R"(name: two scanners
labels: {0: background, 1: organ, 2: lesion, 3: box}
cases:
  - {id: a, image: a.nii.gz, label: a_seg.nii.gz, domain: scanner_a}
  - id: b
    images: [b.nii.gz]
    label: b_seg.nii.gz
    domain: scanner_b
)");
  const Dataset d = read_dataset(dir / "cases.yaml");
  ASSERT_EQ(d.cases.size(), 2u);
  EXPECT_EQ(d.cases[1].images[0], dir / "b.nii.gz");
  EXPECT_EQ(domain_names(d), (std::vector<std::string>{"scanner_a", "scanner_b"}));
  EXPECT_TRUE(check_dataset(d).empty()) << format_problems(check_dataset(d));
}

TEST(Dataset, YamlErrorsNameTheKeyAndLine) {
  TempDir dir;
  test::write_text(dir / "bad.yaml", "labels: {0: bg}\ncases:\n  - id: a\n    image: a.nii.gz\n    lable: x\n");
  try {
    read_dataset(dir / "bad.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cases[0].lable"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bad.yaml"), std::string::npos) << msg;
  }
  test::write_text(dir / "nojson", "");
  EXPECT_THROW(read_dataset(dir / "missing_folder"), ConfigError);
  fs::create_directories(dir / "empty_nnunet");
  EXPECT_THROW(read_dataset(dir / "empty_nnunet"), ConfigError);
}

// Issue 17: wrong types and overflowing numbers in dataset.json were
// nlohmann exceptions (internal error, exit 1); each is a ConfigError
// naming the file and key, on one line.
TEST(Dataset, DatasetJsonWrongTypesAndOverflowAreConfigErrors) {
  TempDir dir;
  const auto error_of = [&](const std::string& json_text) {
    test::write_text(dir / "dataset.json", json_text);
    try {
      read_dataset(dir / "dataset.json");
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "no ConfigError for " << json_text;
    return std::string();
  };
  const std::string msd = R"("modality": {"0": "MRI"}, "labels": {"0": "background"}, )";
  EXPECT_NE(error_of(R"({"modality": {"0": 1e309}})").find("invalid JSON ("), std::string::npos);
  EXPECT_NE(error_of("{" + msd + R"("training": [{"image": 7}]})").find("key 'training[0].image' must be text, got '7'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": ["x"], "modality": {"0": "MRI"}, "labels": {}, "training": []})")
                .find("key 'name' must be text"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"modality": {"0": {"deep": ")" + std::string(200, 'q') + R"("}}, "training": []})")
                .find("key 'modality.0' must be text, got '{\"deep\":\"qqqq"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"channel_names": {"0": "CT"}, "labels": {"a": 4294967297}, "file_ending": ".nii.gz"})")
                .find("label 'a' must be one integer 0..32767"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"channel_names": {"0": "CT"}, "labels": {}, "file_ending": 5})")
                .find("key 'file_ending' must be text, got '5'"),
            std::string::npos);
}

// Every kind of bad case the data-pipeline issue lists, in one dataset:
// the check must report all of them, each naming its case and file.
TEST(DatasetCheck, ReportsEveryProblemWithCaseAndFile) {
  TempDir dir;
  const Phantom good = small_phantom(3);
  Dataset d;
  d.name = "bad";
  d.source = dir / "cases.yaml";
  d.channel_names = {"image"};
  d.labels = {{0, "background"}, {1, "organ"}, {2, "lesion"}, {3, "box"}};
  const auto add = [&](const std::string& id, const Volume& image, const Volume* label) {
    CaseEntry c;
    c.id = id;
    c.images = {dir / (id + ".nii.gz")};
    write_volume(image, c.images[0]);
    c.label = dir / (id + "_seg.nii.gz");
    if (label != nullptr) write_volume(*label, c.label, PixelType::kInt16);
    d.cases.push_back(c);
  };
  add("ok", good.image, &good.labels);
  Volume shifted = good.labels;
  shifted.geometry.origin[0] += 2.0;
  add("origin", good.image, &shifted);
  Volume respaced = good.labels;
  respaced.geometry.spacing[2] = 5.0;
  add("spacing", good.image, &respaced);
  Volume rotated = good.labels;
  rotated.geometry.direction = {0, 1, 0, 1, 0, 0, 0, 0, -1};
  add("direction", good.image, &rotated);
  Volume cropped = good.labels;
  cropped.data = good.labels.data.slice(0, 0, 10).contiguous();
  cropped.geometry.size[2] = 10;
  add("size", good.image, &cropped);
  add("nolabel", good.image, nullptr);
  Volume extra = good.labels;
  extra.data = extra.data.clone();
  extra.data[0][0][0] = 7.0f;
  add("values", good.image, &extra);
  Volume nan_image = good.image;
  nan_image.data = nan_image.data.clone();
  nan_image.data[1][2][3] = std::nanf("");
  add("nan", nan_image, &good.labels);
  Volume empty = good.labels;
  empty.data = at::zeros_like(good.labels.data);
  add("empty", good.image, &empty);
  add("ok", good.image, &good.labels);  // duplicate id
  CaseEntry four_d;
  four_d.id = "fourd";
  four_d.images = {test::nibabel_data_dir() / "example4d.nii.gz"};
  MEDSEG_REQUIRE_FILE(four_d.images[0]);
  four_d.label = dir / "ok_seg.nii.gz";
  d.cases.push_back(four_d);

  const auto problems = check_dataset(d);
  const std::string text = format_problems(problems);
  const auto expect_problem = [&](const std::string& id, const std::string& file_part, const std::string& what) {
    bool found = false;
    for (const auto& p : problems) {
      found = found || (p.case_id == id && p.file.string().find(file_part) != std::string::npos &&
                        p.message.find(what) != std::string::npos);
    }
    EXPECT_TRUE(found) << "missing: case " << id << " / " << what << "\n" << text;
  };
  expect_problem("origin", "origin_seg", "origin");
  expect_problem("spacing", "spacing_seg", "spacing");
  expect_problem("direction", "direction_seg", "direction");
  expect_problem("size", "size_seg", "size");
  expect_problem("nolabel", "nolabel_seg", "label file is missing");
  expect_problem("values", "values_seg", "label value(s) 7");
  expect_problem("nan", "nan.nii.gz", "NaN or infinite");
  expect_problem("empty", "empty_seg", "no foreground");
  expect_problem("ok", "cases.yaml", "more than once");
  expect_problem("fourd", "example4d", "4D image");
  for (const auto& p : problems) EXPECT_NE(p.case_id, "") << text;
  EXPECT_THROW(throw_if_problems(d, problems), IoError);

  // A visitor sees only the cases without a problem of their own (both
  // entries of the duplicate id "ok"), with the volumes as read; what it
  // throws becomes a problem of that case.
  std::vector<std::string> visited;
  const auto same = check_dataset(d, {}, [&](const CaseEntry& c, const Volume& labels, const std::vector<Volume>& images) {
    visited.push_back(c.id);
    EXPECT_TRUE(at::equal(labels.data, good.labels.data));
    ASSERT_EQ(images.size(), 1u);
    EXPECT_TRUE(at::allclose(images[0].data, good.image.data));
    throw IoError("measured badly");
  });
  EXPECT_EQ(visited, (std::vector<std::string>{"ok", "ok"}));
  EXPECT_EQ(same.size(), problems.size() + 2);
  const std::string same_text = format_problems(same);
  const std::size_t first = same_text.find("case ok: measured badly\n");
  EXPECT_NE(first, std::string::npos) << same_text;
  EXPECT_NE(same_text.find("case ok: measured badly\n", first + 1), std::string::npos) << same_text;
}

TEST(Fingerprint, ForegroundStatisticsAndSpacingsByHand) {
  TempDir dir;
  Dataset d;
  d.name = "fp";
  d.channel_names = {"image"};
  d.labels = {{0, "bg"}, {1, "organ"}, {2, "lesion"}, {3, "box"}};
  std::int64_t n1 = 0, n2 = 0, n3 = 0;
  for (int i = 0; i < 2; ++i) {
    const Phantom p = small_phantom(10 + i);
    CaseEntry c{"c" + std::to_string(i), {dir / ("c" + std::to_string(i) + ".nii.gz")},
                dir / ("c" + std::to_string(i) + "_seg.nii.gz"), ""};
    write_case(p, c.images[0], c.label);
    d.cases.push_back(c);
    n1 += (p.labels.data == 1).sum().item<std::int64_t>();
    n2 += (p.labels.data == 2).sum().item<std::int64_t>();
    n3 += (p.labels.data == 3).sum().item<std::int64_t>();
  }
  // Read by compute_fingerprint(), and measured by check_dataset() on its
  // one reading: both give the hand-computed values.
  FingerprintBuilder builder(d);
  ASSERT_TRUE(check_dataset(d, {}, [&](const CaseEntry& c, const Volume& labels, const std::vector<Volume>& images) {
                builder.add(c, labels, images);
              }).empty());
  for (const DatasetFingerprint& fp : {compute_fingerprint(d), builder.finish()}) {
    ASSERT_EQ(fp.cases.size(), 2u);
    EXPECT_EQ(fp.cases[1].id, "c1");
    EXPECT_EQ(fp.cases[0].spacing, (std::array<double, 3>{4.0, 4.0, 4.0}));
    EXPECT_EQ(fp.label_voxels.at(2), n2);
    // The clean profile gives organ 0.65, lesion 0.95, box 0.45 exactly.
    const double mean = (0.65 * n1 + 0.95 * n2 + 0.45 * n3) / double(n1 + n2 + n3);
    EXPECT_NEAR(fp.foreground_intensity[0].mean, mean, 1e-5);
    EXPECT_NEAR(fp.foreground_intensity[0].max, 0.95, 1e-6);
    EXPECT_NEAR(fp.foreground_intensity[0].min, 0.45, 1e-6);
  }
}

// The fingerprint reads sizes, spacings and foreground samples off the
// volumes as they are; the reference reorients copies (Reorient) and takes
// masked_select + a strided slice of them. Grids whose axes are permuted and
// flipped against RAS, and a sample stride > 1, so that order matters.
TEST(Fingerprint, MatchesReorientedCopiesForAnyAxisOrder) {
  at::manual_seed(11);
  Dataset d;
  d.name = "axes";
  d.channel_names = {"t1", "t2"};
  FingerprintOptions options;
  options.max_foreground_samples_per_case = 97;
  for (const auto& direction : std::vector<std::array<double, 9>>{{1, 0, 0, 0, 1, 0, 0, 0, 1},
                                                                   {-1, 0, 0, 0, -1, 0, 0, 0, 1},
                                                                   {0, 0, 1, -1, 0, 0, 0, -1, 0},
                                                                   {0, -1, 0, 0, 0, -1, 1, 0, 0}}) {
    Volume labels;
    labels.geometry.size = {13, 9, 7};
    labels.geometry.spacing = {0.5, 1.5, 3.0};
    labels.geometry.direction = direction;
    labels.data = at::randint(-1, 3, {7, 9, 13}).to(at::kShort);
    labels.data.slice(2, 0, 2).zero_();  // a border the crop box leaves out
    std::vector<Volume> images(2, labels);
    for (auto& image : images) {
      image.data = at::randn({7, 9, 13});
      image.data.slice(2, 0, 1).zero_();
    }
    const CaseEntry c{"c", {"t1.nii.gz", "t2.nii.gz"}, "seg.nii.gz", ""};
    for (const char* code : {"RAS", "LPI", "SAR"}) {
      options.orientation = code;
      FingerprintBuilder builder(d, options);
      builder.add(c, labels, images);
      const DatasetFingerprint fp = builder.finish();

      const Reorient reorient(code);
      const Volume ref_labels = reorient(labels);
      EXPECT_EQ(fp.cases[0].size, ref_labels.geometry.size) << code;
      EXPECT_EQ(fp.cases[0].spacing, ref_labels.geometry.spacing) << code;
      const at::Tensor ref_channels = at::stack({reorient(images[0]).data, reorient(images[1]).data});
      const BoundingBox box = nonzero_bounding_box(ref_channels);
      for (int a = 0; a < 3; ++a) EXPECT_EQ(fp.cases[0].cropped_size[a], box.stop[a] - box.start[a]) << code;
      const at::Tensor fg = ref_labels.data > 0;
      const std::int64_t n = fg.sum().item<std::int64_t>();
      const std::int64_t stride = (n + 96) / 97;
      ASSERT_GT(stride, 1);
      for (int ch = 0; ch < 2; ++ch) {
        const IntensityStats expected = intensity_stats(ref_channels[ch].masked_select(fg).slice(0, 0, n, stride));
        const IntensityStats& got = fp.foreground_intensity[static_cast<std::size_t>(ch)];
        EXPECT_EQ(got.mean, expected.mean) << code << " channel " << ch;
        EXPECT_EQ(got.std, expected.std) << code;
        EXPECT_EQ(got.median, expected.median) << code;
        EXPECT_EQ(got.percentile_00_5, expected.percentile_00_5) << code;
        EXPECT_EQ(got.percentile_99_5, expected.percentile_99_5) << code;
      }
      for (int value = -1; value < 3; ++value) {
        EXPECT_EQ(fp.label_voxels.at(value), (labels.data == value).sum().item<std::int64_t>()) << value;
      }
    }
  }
}

// A case whose image and labels differ in size, or with another number of
// images than the dataset has channels, is refused by name, not by a
// LibTorch error from stacking them.
TEST(Fingerprint, MismatchedCasesAreRefusedByName) {
  Dataset d;
  d.name = "fp";
  d.channel_names = {"image"};
  const Phantom p = small_phantom(4);
  const CaseEntry c{"c0", {"c0.nii.gz"}, "c0_seg.nii.gz", ""};
  FingerprintBuilder builder(d);
  Volume smaller = p.image;
  smaller.data = p.image.data.slice(0, 0, 5).contiguous();
  smaller.geometry.size[2] = 5;
  try {
    builder.add(c, p.labels, {smaller});
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("case c0: image 'c0.nii.gz' and label 'c0_seg.nii.gz' differ in size"),
              std::string::npos)
        << e.what();
  }
  try {
    builder.add(c, p.labels, {p.image, p.image});
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("case c0: 2 image(s), the dataset has 1 channel"), std::string::npos)
        << e.what();
  }
  try {
    builder.finish();  // nothing was added
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("dataset 'fp': no foreground voxels in any case"), std::string::npos)
        << e.what();
  }
}

TEST(Planner, MedianSpacingForIsotropicData) {
  const auto t = plan_target_spacing({{1, 1, 1}, {0.8, 0.8, 1.2}, {1.2, 1.0, 2.0}},
                                     {{100, 100, 100}, {100, 100, 100}, {100, 100, 100}});
  EXPECT_EQ(t, (std::array<double, 3>{1.0, 1.0, 1.2}));
}

TEST(Planner, TenthPercentileRuleForThickSlices) {
  // Median z spacing 5 > 3 x 0.7, and 20 slices x 3 < 500 voxels in-plane:
  // z takes the 10th percentile of z spacings: values 2.5, 5, 5, 5, 6 ->
  // rank 0.4 -> 2.5 + 0.4 * 2.5 = 3.5.
  const std::vector<std::array<double, 3>> spacings{
      {0.7, 0.7, 2.5}, {0.7, 0.7, 5}, {0.7, 0.7, 5}, {0.7, 0.7, 5}, {0.7, 0.7, 6}};
  const std::vector<std::array<std::int64_t, 3>> sizes(5, {500, 500, 20});
  const auto t = plan_target_spacing(spacings, sizes);
  EXPECT_DOUBLE_EQ(t[0], 0.7);
  EXPECT_NEAR(t[2], 3.5, 1e-12);
  // Same spacings but many slices: not anisotropic in voxels, median kept.
  const std::vector<std::array<std::int64_t, 3>> deep(5, {500, 500, 400});
  EXPECT_DOUBLE_EQ(plan_target_spacing(spacings, deep)[2], 5.0);
}

TEST(Planner, PatchShrinksLongestPhysicalAxisUntilItFits) {
  // Median 200 x 200 x 50 at 1 x 1 x 3 mm; budget for 64 x 64 x 48 voxels.
  const std::int64_t budget = estimate_training_bytes(64 * 64 * 48, 32, 2);
  const auto patch = plan_patch_size({200, 200, 50}, {1, 1, 3}, budget, 32, 2, 16);
  for (auto p : patch) EXPECT_EQ(p % 16, 0);
  EXPECT_LE(estimate_training_bytes(patch[0] * patch[1] * patch[2], 32, 2), budget);
  EXPECT_EQ(patch[0], patch[1]);
  // Shrinking the physically longest axis first leaves physical extents
  // within one step (16 voxels x 3 mm) of each other.
  const double ex = patch[0] * 1.0, ez = patch[2] * 3.0;
  EXPECT_LE(std::abs(ex - ez), 48.0) << patch[0] << " " << patch[2];
  EXPECT_LT(patch[2], patch[0]);  // fewer voxels along the coarse axis
  // A generous budget keeps the median shape (rounded up to the divisor).
  EXPECT_EQ(plan_patch_size({40, 30, 20}, {1, 1, 1}, 1LL << 40, 32, 2, 16),
            (std::array<std::int64_t, 3>{48, 32, 32}));
}

TEST(Planner, CtChannelsGetTheDatasetStatistics) {
  Dataset d;
  d.channel_names = {"CT", "PET"};
  DatasetFingerprint fp;
  fp.cases = {{"a", {1, 1, 2}, {100, 100, 50}, {90, 90, 50}}};
  fp.foreground_intensity = {IntensityStats{40, 30, -100, 300, 45, -50, 200}, IntensityStats{}};
  const DatasetPlan plan = plan_dataset(d, fp);
  EXPECT_EQ(plan.preprocessing.normalization[0].kind, NormalizationKind::kCt);
  EXPECT_EQ(plan.preprocessing.normalization[0].stats.percentile_99_5, 200);
  EXPECT_EQ(plan.preprocessing.normalization[1].kind, NormalizationKind::kZscore);
  EXPECT_EQ(plan.preprocessing.target_spacing, (std::array<double, 3>{1, 1, 2}));
}

TEST(PreprocessedCache, StoresLoadsAndNoticesChangedSources) {
  TempDir dir;
  CaseEntry c{"case1", {dir / "img.nii.gz"}, dir / "seg.nii.gz", ""};
  write_case(small_phantom(5), c.images[0], c.label);
  PreprocessingPlan plan;
  plan.target_spacing = {3.0, 3.0, 3.0};
  const Preprocessor pre(plan);
  const PreprocessedCache cache(dir / "cache", plan);
  EXPECT_FALSE(cache.load(c).has_value());
  const PreprocessedCase computed = cache.get_or_compute(c, pre);
  const auto loaded = cache.load(c);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(at::equal(loaded->image.data, computed.image.data));
  EXPECT_TRUE(at::equal(loaded->labels->data, computed.labels->data));
  EXPECT_EQ(loaded->records.size(), computed.records.size());
  EXPECT_EQ(loaded->records.back().before.origin, computed.records.back().before.origin);
  EXPECT_EQ(loaded->image.geometry.spacing, computed.image.geometry.spacing);

  // Another plan lives in another folder.
  PreprocessingPlan other = plan;
  other.target_spacing = {2.0, 2.0, 2.0};
  EXPECT_NE(PreprocessedCache(dir / "cache", other).folder(), cache.folder());
  EXPECT_FALSE(PreprocessedCache(dir / "cache", other).load(c).has_value());

  // Rewriting a source file invalidates the cached case.
  write_volume(small_phantom(6).image, c.images[0]);
  EXPECT_FALSE(cache.load(c).has_value());
}

}  // namespace
}  // namespace medseg::pipeline
