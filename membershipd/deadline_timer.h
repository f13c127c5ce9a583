// One re-armable deadline on the daemon's loop, from a timerfd of its own watched by the loop.
// The totem timers move at every token visit and message; EventLoop::AddTimer/CancelTimer would
// allocate and cancel a timer each time, while this keeps one deadline and touches the kernel
// timer only when the deadline moves earlier. (libqb's loop timers, which spin for the last
// millisecond, were most of an idle membershipd's CPU: bench/membership_idle.sh.)
//
// Re-arming is lazy, because timerfd_settime is costly (on this VM it was most of the daemon's CPU
// when done per message): a later deadline than the one the kernel holds keeps the kernel's, and
// the early expiry re-arms for the rest; a cancel only forgets the deadline. The kernel timer is
// set only when the deadline moves earlier or nothing is armed, and a deadline already due is
// run through EventLoop::Post instead (a one-node ring's deadline is due at every message).
//
// Threading: loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/event_loop.h"

namespace ha::membership {

class DeadlineTimer {
 public:
  // REQUIRES: `loop` and `clock` (its monotonic time) outlive the timer. `on_fire` runs on the
  // loop once per deadline reached.
  static absl::StatusOr<std::unique_ptr<DeadlineTimer>> Create(EventLoop& loop,
                                                               Clock& clock,
                                                               std::function<void()> on_fire);
  ~DeadlineTimer();
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Fires once at `deadline` (monotonic; at once when past); replaces an armed deadline.
  void ArmAt(absl::Time deadline);
  void ArmAfter(absl::Duration after) { ArmAt(clock_.MonotonicNow() + after); }
  void Cancel() { wanted_.reset(); }
  bool armed() const { return wanted_.has_value(); }

 private:
  DeadlineTimer(EventLoop& loop, Clock& clock, int fd, std::function<void()> on_fire)
      : loop_(loop), clock_(clock), fd_(fd), on_fire_(std::move(on_fire)) {}
  void SetKernel(absl::Time at, absl::Time now);
  void OnReadable();
  // Fires if the deadline is due, else makes sure the kernel timer comes first.
  void OnDue();

  EventLoop& loop_;
  Clock& clock_;
  const int fd_;
  std::function<void()> on_fire_;
  std::optional<absl::Time> wanted_;  // the deadline the owner asked for
  std::optional<absl::Time> kernel_;  // when the timerfd expires (at or before wanted_)
  bool post_pending_ = false;         // an OnDue posted to the loop, not run yet
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for posted work
};

}  // namespace ha::membership
