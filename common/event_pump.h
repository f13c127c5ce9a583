// Feeds events to a state machine one at a time. Applying an effect may produce a new event (a
// spawned process's pid, a failure to build a command); such an event waits in the queue until the
// current one's effects are all applied, so effects always apply in the order the machine
// returned them. Loop thread only.
#pragma once

#include <deque>
#include <utility>

#include "absl/functional/any_invocable.h"

namespace ha {

template <typename Event>
class EventPump {
 public:
  // `handle` runs the machine on one event and applies its effects; it may call Feed().
  explicit EventPump(absl::AnyInvocable<void(const Event&)> handle) : handle_(std::move(handle)) {}

  void Feed(Event event) {
    queue_.push_back(std::move(event));
    if (pumping_) {
      return;
    }
    pumping_ = true;
    while (!queue_.empty()) {
      Event next = std::move(queue_.front());
      queue_.pop_front();
      handle_(next);
    }
    pumping_ = false;
  }

 private:
  absl::AnyInvocable<void(const Event&)> handle_;
  std::deque<Event> queue_;
  bool pumping_ = false;
};

}  // namespace ha
