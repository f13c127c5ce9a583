// Asking the loop for an answer that comes later (an agent's result, an operation's end): the
// handler posts `start` to the loop with a reply function, then waits for the reply within its
// call's deadline (common/loop_call.h's WaitFor). The reply must be called at most once, on the
// loop; if it never is (the loop stopped, the driver is gone), the wait ends with UNAVAILABLE.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "common/loop_call.h"

namespace ha::stonithd {

template <typename T>
using Reply = std::function<void(T)>;

// For gRPC handlers.
template <typename T>
absl::StatusOr<T> AskLoop(EventLoop& loop,
                          grpc::ServerContext* ctx,
                          std::function<void(Reply<T>)> start) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  loop.Post([start = std::move(start), promise]() mutable {
    start([promise](T value) { promise->set_value(std::move(value)); });
  });
  return WaitFor(ctx, future);
}

// For other threads: waits at most `timeout` (DeadlineExceeded past it), and stops waiting
// (Cancelled) once `give_up`, when given, returns true.
template <typename T>
absl::StatusOr<T> AskLoopFor(EventLoop& loop,
                             absl::Duration timeout,
                             std::function<void(Reply<T>)> start,
                             const std::function<bool()>& give_up = {}) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  loop.Post([start = std::move(start), promise]() mutable {
    start([promise](T value) { promise->set_value(std::move(value)); });
  });
  const absl::Time deadline = absl::Now() + timeout;
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (give_up && give_up()) {
      return absl::CancelledError("given up");
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("no answer from the loop in time");
    }
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    return absl::UnavailableError("the daemon is stopping");
  }
}

}  // namespace ha::stonithd
