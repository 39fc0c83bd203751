#include "app/gui/logic/label_change.h"

#include <algorithm>
#include <stdexcept>

namespace medseg::gui {

void LabelChange::Column::push(std::int16_t v) {
  if (count_ == 0) {
    first_ = v;
  } else if (constant_ && v != first_) {
    // The first differing value: keep every value from now on.
    constant_ = false;
    values_.assign(static_cast<std::size_t>(count_), first_);
  }
  if (!constant_) values_.push_back(v);
  ++count_;
}

LabelChange LabelChange::from_edits(std::vector<VoxelEdit> edits) {
  std::sort(edits.begin(), edits.end(),
            [](const VoxelEdit& a, const VoxelEdit& b) { return a.index < b.index; });
  LabelChange change;
  for (const VoxelEdit& e : edits) change.append(e.index, e.before, e.after);
  change.compact();
  return change;
}

void LabelChange::append(std::int64_t index, std::int16_t before, std::int16_t after) {
  if (index <= last_index_) {
    throw std::logic_error("LabelChange::append: index " + std::to_string(index) + " after " +
                           std::to_string(last_index_) + " (indices must increase)");
  }
  last_index_ = index;
  if (before == after) return;
  if (!runs_.empty() && runs_.back().start + runs_.back().length == index) {
    ++runs_.back().length;
  } else {
    runs_.push_back({index, 1});
  }
  before_.push(before);
  after_.push(after);
  ++voxel_count_;
}

void LabelChange::compact() {
  runs_.shrink_to_fit();
  before_.shrink();
  after_.shrink();
}

std::size_t LabelChange::memory_bytes() const {
  return runs_.capacity() * sizeof(Run) + before_.memory_bytes() + after_.memory_bytes();
}

void LabelChange::apply_after(std::int16_t* labels) const {
  for_each([labels](std::int64_t index, std::int16_t, std::int16_t after) { labels[index] = after; });
}

void LabelChange::apply_before(std::int16_t* labels) const {
  for_each([labels](std::int64_t index, std::int16_t before, std::int16_t) { labels[index] = before; });
}

}  // namespace medseg::gui
