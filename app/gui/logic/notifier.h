#pragma once
// Change notifications without Qt: a list of std::function callbacks. The
// Qt layer connects one callback per signal it re-emits; tests connect
// lambdas that count calls.
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace medseg::gui {

template <typename... Args>
class Notifier {
 public:
  using Callback = std::function<void(Args...)>;

  /// Adds a callback; returns an id for disconnect().
  std::size_t connect(Callback callback) {
    callbacks_.emplace_back(++last_id_, std::move(callback));
    return last_id_;
  }
  void disconnect(std::size_t id) {
    for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
      if (it->first == id) {
        callbacks_.erase(it);
        return;
      }
    }
  }
  /// Calls every callback in connection order. A callback must not connect
  /// or disconnect on the same notifier (the list is iterated by index, so
  /// that would not crash, but could skip or repeat a call).
  void notify(Args... args) const {
    for (std::size_t n = 0; n < callbacks_.size(); ++n) callbacks_[n].second(args...);
  }

 private:
  std::vector<std::pair<std::size_t, Callback>> callbacks_;
  std::size_t last_id_ = 0;
};

}  // namespace medseg::gui
