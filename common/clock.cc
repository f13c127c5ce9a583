#include "common/clock.h"

#include <time.h>

#include "absl/time/clock.h"

namespace ha {

absl::Time RealClock::MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

absl::Time RealClock::WallNow() {
  return absl::Now();
}

}  // namespace ha
