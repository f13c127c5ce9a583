#include "membershipd/deadline_timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace ha::membership {

absl::StatusOr<std::unique_ptr<DeadlineTimer>> DeadlineTimer::Create(
    EventLoop& loop, Clock& clock, std::function<void()> on_fire) {
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("timerfd_create: ", std::strerror(errno)));
  std::unique_ptr<DeadlineTimer> timer(new DeadlineTimer(loop, clock, fd, std::move(on_fire)));
  DeadlineTimer* raw = timer.get();
  if (absl::Status s = loop.WatchReadable(fd, [raw] { raw->OnReadable(); }); !s.ok()) {
    close(fd);
    return s;
  }
  return timer;
}

DeadlineTimer::~DeadlineTimer() {
  loop_.Unwatch(fd_);
  close(fd_);
}

void DeadlineTimer::ArmAt(absl::Time deadline) {
  wanted_ = deadline;
  const absl::Time now = clock_.MonotonicNow();
  if (deadline <= now) {
    if (!post_pending_) {
      post_pending_ = true;
      loop_.Post([this, alive = std::weak_ptr<int>(alive_)] {
        if (alive.expired())
          return;
        post_pending_ = false;
        OnDue();
      });
    }
    return;
  }
  // The kernel's expiry comes first: OnDue re-arms for the rest.
  if (kernel_ && *kernel_ <= deadline)
    return;
  SetKernel(deadline, now);
}

void DeadlineTimer::SetKernel(absl::Time at, absl::Time now) {
  absl::Duration after = at - now;
  // A zero it_value disarms: "at once" is one nanosecond.
  if (after < absl::Nanoseconds(1))
    after = absl::Nanoseconds(1);
  itimerspec spec{};
  spec.it_value = absl::ToTimespec(after);
  // Fails only on a bad descriptor or value: a deadline that silently never fires would stall
  // the ring, so that is fatal. Setting also clears an expiry not read yet.
  HA_CHECK(timerfd_settime(fd_, 0, &spec, nullptr) == 0);
  kernel_ = at;
}

void DeadlineTimer::OnReadable() {
  uint64_t expirations = 0;
  if (read(fd_, &expirations, sizeof(expirations)) != sizeof(expirations))
    return;
  kernel_.reset();
  OnDue();
}

void DeadlineTimer::OnDue() {
  if (!wanted_)
    return;  // cancelled since
  const absl::Time now = clock_.MonotonicNow();
  if (*wanted_ > now) {
    // Moved later since: the kernel timer must come at or before it.
    if (!kernel_ || *kernel_ > *wanted_)
      SetKernel(*wanted_, now);
    return;
  }
  wanted_.reset();
  on_fire_();
}

}  // namespace ha::membership
