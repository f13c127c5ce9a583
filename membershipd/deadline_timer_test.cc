// DeadlineTimer on a real loop: fires once, never before its deadline, follows re-arms both
// ways, and not after a cancel. No timing is asserted beyond "not before the deadline".
#include "membershipd/deadline_timer.h"

#include <catch2/catch.hpp>
#include <vector>

#include "common/clock.h"
#include "common/event_loop.h"

namespace ha::membership {
namespace {

struct Fixture {
  Fixture() {
    auto l = CreateQbEventLoop();
    REQUIRE(l.ok());
    loop = *std::move(l);
    auto t = DeadlineTimer::Create(*loop, clock, [this] { fired.push_back(clock.MonotonicNow()); });
    REQUIRE(t.ok());
    timer = *std::move(t);
  }
  // Runs the loop until `after` has passed (a loop timer stops it).
  void RunFor(absl::Duration after) {
    loop->AddTimer(after, [this] { loop->Stop(); });
    loop->Run();
  }
  RealClock clock;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<DeadlineTimer> timer;
  std::vector<absl::Time> fired;
};

TEST_CASE("a deadline fires once, not before it is due") {
  Fixture f;
  const absl::Time deadline = f.clock.MonotonicNow() + absl::Milliseconds(5);
  f.timer->ArmAt(deadline);
  CHECK(f.timer->armed());
  f.RunFor(absl::Milliseconds(100));
  REQUIRE(f.fired.size() == 1);
  CHECK(f.fired[0] >= deadline);
  CHECK_FALSE(f.timer->armed());
}

TEST_CASE("a later re-arm is followed, and an earlier one too") {
  Fixture f;
  const absl::Time now = f.clock.MonotonicNow();
  f.timer->ArmAt(now + absl::Milliseconds(5));
  const absl::Time later = now + absl::Milliseconds(30);
  f.timer->ArmAt(later);  // the kernel keeps 5 ms, then re-arms for the rest
  f.RunFor(absl::Milliseconds(150));
  REQUIRE(f.fired.size() == 1);
  CHECK(f.fired[0] >= later);

  f.fired.clear();
  const absl::Time start = f.clock.MonotonicNow();
  f.timer->ArmAt(start + absl::Seconds(10));
  const absl::Time earlier = start + absl::Milliseconds(5);
  f.timer->ArmAt(earlier);
  f.RunFor(absl::Milliseconds(100));
  REQUIRE(f.fired.size() == 1);
  CHECK(f.fired[0] >= earlier);
}

TEST_CASE("a cancelled deadline does not fire; a past one fires at once") {
  Fixture f;
  f.timer->ArmAfter(absl::Milliseconds(5));
  f.timer->Cancel();
  f.RunFor(absl::Milliseconds(50));
  CHECK(f.fired.empty());
  f.timer->ArmAt(f.clock.MonotonicNow() - absl::Seconds(1));
  f.RunFor(absl::Milliseconds(50));
  CHECK(f.fired.size() == 1);
}

}  // namespace
}  // namespace ha::membership
