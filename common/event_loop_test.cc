#include "common/event_loop.h"

#include <unistd.h>

#include <catch2/catch.hpp>
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
