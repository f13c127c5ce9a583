// Time as a seam: everything that needs "now" gets a Clock, so tests and the simulator control it.
#pragma once

#include "absl/time/time.h"

namespace ha {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for timeouts and intervals; only differences are meaningful. Expressed as an
  // absl::Time counted from an arbitrary origin so that absl's arithmetic applies.
  virtual absl::Time MonotonicNow() = 0;
  // Wall-clock time, for timestamps shown to people and stored in the CIB.
  virtual absl::Time WallNow() = 0;
};

// The operating system's clocks (CLOCK_MONOTONIC and CLOCK_REALTIME).
class RealClock final : public Clock {
 public:
  absl::Time MonotonicNow() override;
  absl::Time WallNow() override;
};

// A clock that moves only when told to. Both readings advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50))
      : now_(start) {}
  absl::Time MonotonicNow() override { return now_; }
  absl::Time WallNow() override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_;
};

}  // namespace ha
