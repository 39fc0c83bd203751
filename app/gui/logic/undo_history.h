#pragma once
// Undo/redo of label edits: a list of sparse LabelChanges (one per brush
// stroke, island removal or AI result) and a position in it. Bounded by
// memory, not by a step count, because steps differ by orders of magnitude
// (a click vs a whole-volume AI result).
#include <cstddef>
#include <cstdint>
#include <deque>

#include "app/gui/logic/label_change.h"

namespace medseg::gui {

class UndoHistory {
 public:
  /// Keeps steps while their total memory_bytes() stays within `max_bytes`;
  /// the oldest steps are dropped first, the newest is always kept.
  explicit UndoHistory(std::size_t max_bytes = std::size_t{256} << 20) : max_bytes_(max_bytes) {}

  /// Records a change that has already been applied; discards the redo
  /// steps (a new edit after undo starts a new branch). Empty changes are
  /// ignored.
  void push(LabelChange change);

  bool can_undo() const { return position_ > 0; }
  bool can_redo() const { return position_ < steps_.size(); }
  /// Restores the values before the last step into `labels` ((D, H, W)
  /// buffer) and returns that step (nullptr when there is nothing to undo).
  const LabelChange* undo(std::int16_t* labels);
  /// Re-applies the step undone last; nullptr when there is none.
  const LabelChange* redo(std::int16_t* labels);

  /// The step undo() would revert next (the last one applied), or nullptr.
  const LabelChange* last_applied() const { return position_ > 0 ? &steps_[position_ - 1] : nullptr; }

  /// Undo steps available, redo steps available.
  std::size_t undo_count() const { return position_; }
  std::size_t redo_count() const { return steps_.size() - position_; }
  /// Sum of memory_bytes() of every kept step (undo and redo).
  std::size_t memory_bytes() const { return bytes_; }
  void clear();

 private:
  std::size_t max_bytes_;
  std::deque<LabelChange> steps_;
  std::size_t position_ = 0;  ///< steps_[0, position_) are applied
  std::size_t bytes_ = 0;
};

}  // namespace medseg::gui
