#include "app/gui/logic/undo_history.h"

#include <utility>

namespace medseg::gui {

void UndoHistory::push(LabelChange change) {
  if (change.empty()) return;
  while (steps_.size() > position_) {
    bytes_ -= steps_.back().memory_bytes();
    steps_.pop_back();
  }
  change.compact();
  bytes_ += change.memory_bytes();
  steps_.push_back(std::move(change));
  position_ = steps_.size();
  while (bytes_ > max_bytes_ && steps_.size() > 1) {
    bytes_ -= steps_.front().memory_bytes();
    steps_.pop_front();
    --position_;
  }
}

const LabelChange* UndoHistory::undo(std::int16_t* labels) {
  if (!can_undo()) return nullptr;
  const LabelChange& step = steps_[--position_];
  step.apply_before(labels);
  return &step;
}

const LabelChange* UndoHistory::redo(std::int16_t* labels) {
  if (!can_redo()) return nullptr;
  const LabelChange& step = steps_[position_++];
  step.apply_after(labels);
  return &step;
}

void UndoHistory::clear() {
  steps_.clear();
  position_ = 0;
  bytes_ = 0;
}

}  // namespace medseg::gui
