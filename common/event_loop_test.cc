#include "common/event_loop.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace ha {
namespace {

TEST_CASE("timers fire in deadline order and cancelled ones never fire") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::vector<int> fired;
  l.AddTimer(absl::Milliseconds(30), [&] { fired.push_back(3); });
  l.AddTimer(absl::Milliseconds(10), [&] { fired.push_back(1); });
  auto cancelled = l.AddTimer(absl::Milliseconds(20), [&] { fired.push_back(2); });
  l.CancelTimer(cancelled);
  l.AddTimer(absl::Milliseconds(40), [&] { l.Stop(); });
  l.Run();
  CHECK(fired == std::vector<int>{1, 3});
}

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t ThreadCpuNs() {
  rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (int64_t{ru.ru_utime.tv_sec} + ru.ru_stime.tv_sec) * 1000000000 +
         (int64_t{ru.ru_utime.tv_usec} + ru.ru_stime.tv_usec) * 1000;
}

TEST_CASE("timers with the same delay fire in the order added, zero delay included") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::vector<int> fired;
  for (int i = 0; i < 50; ++i) {
    l.AddTimer(absl::Milliseconds(5), [&fired, i] { fired.push_back(i); });
  }
  for (int i = 100; i < 150; ++i) {
    l.AddTimer(i % 2 == 0 ? absl::ZeroDuration() : absl::Milliseconds(-1),
               [&fired, i] { fired.push_back(i); });
  }
  l.AddTimer(absl::Milliseconds(10), [&] { l.Stop(); });
  l.Run();
  std::vector<int> want;
  for (int i = 100; i < 150; ++i)
    want.push_back(i);
  for (int i = 0; i < 50; ++i)
    want.push_back(i);
  CHECK(fired == want);
}

TEST_CASE("a zero-delay timer does not run inside AddTimer") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  int runs = 0;
  l.AddTimer(absl::ZeroDuration(), [&] {
    l.AddTimer(absl::ZeroDuration(), [&] {
      ++runs;
      l.Stop();
    });
    CHECK(runs == 0);
  });
  CHECK(runs == 0);
  l.Run();
  CHECK(runs == 1);
}

TEST_CASE("a timer's callback can cancel another timer, due or not, and itself") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::vector<int> fired;
  EventLoop::TimerId first = 0;
  EventLoop::TimerId self = 0;
  EventLoop::TimerId due_too = 0;
  EventLoop::TimerId later = 0;
  first = l.AddTimer(absl::Milliseconds(5), [&] {
    fired.push_back(1);
    l.CancelTimer(due_too);  // due in the same wake-up: must not run
    l.CancelTimer(later);
    l.CancelTimer(first);  // running now: harmless
    l.CancelTimer(12345);  // unknown: harmless
  });
  self = l.AddTimer(absl::Milliseconds(5), [&] {
    fired.push_back(2);
    l.CancelTimer(self);
  });
  due_too = l.AddTimer(absl::Milliseconds(5), [&] { fired.push_back(3); });
  later = l.AddTimer(absl::Milliseconds(20), [&] { fired.push_back(4); });
  l.AddTimer(absl::Milliseconds(40), [&] { l.Stop(); });
  // Let all three short timers be due together, so they fire in one wake-up.
  usleep(10000);
  l.Run();
  CHECK(fired == std::vector<int>{1, 2});
}

TEST_CASE("a timer can add itself again, and a zero-delay chain starves nothing") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  int ticks = 0;
  int zero_ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks == 20) {
      l.Stop();
      return;
    }
    l.AddTimer(absl::Milliseconds(1), tick);
  };
  // Re-adds itself until the 1 ms chain is done: would hang if it kept that chain from firing.
  std::function<void()> zero_tick = [&] {
    ++zero_ticks;
    if (ticks < 20) {
      l.AddTimer(absl::ZeroDuration(), zero_tick);
    }
  };
  l.AddTimer(absl::Milliseconds(1), tick);
  l.AddTimer(absl::ZeroDuration(), zero_tick);
  l.Run();
  CHECK(ticks == 20);
  CHECK(zero_ticks > 20);
}

TEST_CASE("a cancelled earliest timer and an infinite one fire nothing; the next still fires") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::vector<int> fired;
  l.AddTimer(absl::InfiniteDuration(), [&] { fired.push_back(0); });
  l.CancelTimer(l.AddTimer(absl::Milliseconds(5), [&] { fired.push_back(1); }));
  l.AddTimer(absl::Milliseconds(15), [&] { fired.push_back(2); });
  l.AddTimer(absl::Milliseconds(30), [&] { l.Stop(); });
  l.Run();
  CHECK(fired == std::vector<int>{2});
}

int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0)
      ++n;
  }
  return n;
}

TEST_CASE("destroying the loop closes its fds and frees pending timers") {
  const int fds_before = OpenFds();
  auto token = std::make_shared<int>(0);
  {
    auto loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    EventLoop& l = **loop;
    l.AddTimer(absl::Seconds(60), [token] {});
    l.AddTimer(absl::Milliseconds(1), [&] { l.Stop(); });
    l.Run();
    // Run again after Stop: the pending timer does not keep it from stopping.
    l.AddTimer(absl::Milliseconds(1), [&] { l.Stop(); });
    l.Run();
    CHECK(token.use_count() == 2);
  }
  CHECK(token.use_count() == 1);
  CHECK(OpenFds() == fds_before);
}

TEST_CASE("1000 timers with random delays fire in deadline order, none early") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int64_t> delay_us(0, 50000);
  struct Added {
    int64_t earliest;  // the deadline lies in [earliest, latest]
    int64_t latest;
  };
  std::vector<Added> added;
  std::vector<std::pair<int, int64_t>> fired;  // index, when
  for (int i = 0; i < 1000; ++i) {
    int64_t d = delay_us(rng) * 1000;
    int64_t before = MonotonicNs();
    l.AddTimer(absl::Nanoseconds(d), [&fired, i] { fired.emplace_back(i, MonotonicNs()); });
    added.push_back({before + d, MonotonicNs() + d});
    // Cancel some, which must then never fire.
    if (i % 10 == 9) {
      l.CancelTimer(l.AddTimer(absl::Nanoseconds(d), [&fired] { fired.emplace_back(-1, 0); }));
    }
  }
  l.AddTimer(absl::Milliseconds(80), [&] { l.Stop(); });
  l.Run();
  REQUIRE(fired.size() == 1000);
  for (size_t k = 0; k < fired.size(); ++k) {
    auto [i, at] = fired[k];
    REQUIRE(i >= 0);
    CHECK(at >= added[i].earliest);
    if (k > 0) {
      // The one fired before cannot have had a later deadline.
      CHECK(added[fired[k - 1].first].earliest <= added[i].latest);
    }
  }
}

TEST_CASE("waiting for a timer does not busy-wait") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  // libqb's own loop timers polled with the whole milliseconds left and then spun with zero
  // timeouts until due: about 1 ms of CPU per timer, half the wall time of 2 ms timers. CPU time
  // only counts while the thread runs, so a loaded machine makes the ratio smaller, not larger.
  constexpr int kTimers = 200;
  int left = kTimers;
  std::function<void()> next = [&] {
    if (--left == 0) {
      l.Stop();
      return;
    }
    l.AddTimer(absl::Milliseconds(2), next);
  };
  const int64_t cpu0 = ThreadCpuNs();
  const int64_t wall0 = MonotonicNs();
  l.AddTimer(absl::Milliseconds(2), next);
  l.Run();
  const int64_t cpu = ThreadCpuNs() - cpu0;
  const int64_t wall = MonotonicNs() - wall0;
  INFO("cpu " << cpu / 1000 << " us, wall " << wall / 1000 << " us");
  CHECK(wall >= kTimers * 2000000);
  CHECK(cpu * 4 < wall);
}

TEST_CASE("Post from another thread runs on the loop") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id ran_on;
  int count = 0;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) {
      l.Post([&] { ++count; });
    }
    l.Post([&] {
      ran_on = std::this_thread::get_id();
      l.Stop();
    });
  });
  l.Run();
  poster.join();
  CHECK(count == 100);
  CHECK(ran_on == loop_thread);
}

TEST_CASE("a watched fd calls back when readable, until unwatched") {
  auto loop = CreateQbEventLoop();
  REQUIRE(loop.ok());
  EventLoop& l = **loop;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::string got;
  REQUIRE(l.WatchReadable(fds[0], [&] {
             char buf[16];
             ssize_t n = read(fds[0], buf, sizeof(buf));
             got.append(buf, n > 0 ? n : 0);
             if (got == "ab") {
               l.Unwatch(fds[0]);
               l.Stop();
             }
           }).ok());
  REQUIRE(write(fds[1], "a", 1) == 1);
  l.AddTimer(absl::Milliseconds(5), [&] { REQUIRE(write(fds[1], "b", 1) == 1); });
  l.Run();
  CHECK(got == "ab");
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace ha
