// The sparse undo storage: runs of consecutive voxels, value columns that
// collapse when constant, and the memory cap of the history.
#include "app/gui/logic/label_change.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "app/gui/logic/undo_history.h"

namespace medseg::gui {
namespace {

struct Seen {
  std::int64_t index;
  std::int16_t before, after;
  bool operator==(const Seen& o) const { return index == o.index && before == o.before && after == o.after; }
};

std::vector<Seen> edits_of(const LabelChange& c) {
  std::vector<Seen> out;
  c.for_each([&](std::int64_t i, std::int16_t b, std::int16_t a) { out.push_back({i, b, a}); });
  return out;
}

TEST(LabelChange, SortsEditsIntoRunsAndStoresConstantValuesOnce) {
  // Indices 5, 3, 4, 10 -> runs [3, 4, 5] and [10]; every old value 0 and
  // new value 1: 2 runs x 16 bytes and no per-voxel values.
  const LabelChange c = LabelChange::from_edits({{5, 0, 1}, {3, 0, 1}, {4, 0, 1}, {10, 0, 1}, {7, 2, 2}});
  EXPECT_EQ(c.voxel_count(), 4) << "the unchanged voxel 7 is dropped";
  EXPECT_EQ(edits_of(c), (std::vector<Seen>{{3, 0, 1}, {4, 0, 1}, {5, 0, 1}, {10, 0, 1}}));
  EXPECT_EQ(c.memory_bytes(), 2 * 16u);
  // Differing old values need one int16 each (4 x 2 bytes more).
  const LabelChange mixed = LabelChange::from_edits({{5, 2, 1}, {3, 0, 1}, {4, 3, 1}, {10, 0, 1}});
  EXPECT_EQ(mixed.memory_bytes(), 2 * 16u + 4 * 2u);
  EXPECT_EQ(edits_of(mixed), (std::vector<Seen>{{3, 0, 1}, {4, 3, 1}, {5, 2, 1}, {10, 0, 1}}));
}

TEST(LabelChange, AppliesBothWaysAndRefusesUnorderedAppends) {
  std::vector<std::int16_t> labels{0, 0, 7, 0, 0, 0};
  LabelChange c;
  c.append(1, 0, 4);
  c.append(2, 7, 4);
  c.append(5, 0, 9);
  EXPECT_THROW(c.append(5, 0, 1), std::logic_error);
  EXPECT_THROW(c.append(3, 0, 1), std::logic_error);
  c.apply_after(labels.data());
  EXPECT_EQ(labels, (std::vector<std::int16_t>{0, 4, 4, 0, 0, 9}));
  c.apply_before(labels.data());
  EXPECT_EQ(labels, (std::vector<std::int16_t>{0, 0, 7, 0, 0, 0}));
}

TEST(UndoHistory, DropsOldestStepsBeyondItsMemoryCapButKeepsTheNewest) {
  // Each step: one run (16 bytes); cap 40 bytes keeps two.
  UndoHistory h(40);
  std::vector<std::int16_t> labels(10, 0);
  for (std::int64_t i = 0; i < 3; ++i) {
    LabelChange c;
    c.append(i, 0, 1);
    labels[static_cast<std::size_t>(i)] = 1;
    h.push(std::move(c));
  }
  EXPECT_EQ(h.undo_count(), 2u);
  EXPECT_EQ(h.memory_bytes(), 32u);
  EXPECT_NE(h.undo(labels.data()), nullptr);
  EXPECT_NE(h.undo(labels.data()), nullptr);
  EXPECT_EQ(h.undo(labels.data()), nullptr);
  EXPECT_EQ(labels, (std::vector<std::int16_t>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})) << "step 0 was dropped";
  // A step larger than the cap is still kept (the newest always is).
  UndoHistory tiny(1);
  LabelChange big;
  big.append(0, 0, 1);
  tiny.push(std::move(big));
  EXPECT_EQ(tiny.undo_count(), 1u);
}

}  // namespace
}  // namespace medseg::gui
