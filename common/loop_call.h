// Calling into a daemon's loop from a gRPC handler thread: the handler posts its work to the loop
// and waits for the answer, polling its call's cancellation and deadline so that a stopped loop
// never blocks a handler for good.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "grpcpp/server_context.h"

namespace ha {

// Waits for `future` while the call is neither cancelled nor past its deadline.
template <typename T>
absl::StatusOr<T> WaitFor(grpc::ServerContext* ctx, std::future<T>& future) {
  constexpr auto kPollSlice = std::chrono::milliseconds(100);
  while (true) {
    if (future.wait_for(kPollSlice) == std::future_status::ready) {
      try {
        return future.get();
      } catch (const std::future_error&) {
        return absl::UnavailableError("the daemon is stopping");
      }
    }
    if (ctx->IsCancelled()) {
      return absl::CancelledError("the call was cancelled");
    }
    if (std::chrono::system_clock::now() >= ctx->deadline()) {
      return absl::DeadlineExceededError("no answer within the call's deadline");
    }
  }
}

// Runs `fn` on `loop` and waits for what it returns, within `ctx`. Work the caller gave up on
// (cancelled, deadline passed) before the loop reached it is skipped, so a client that retries
// after an error never has it done twice; once the loop has started it, the caller waits for
// its answer. A stopped loop drops the posted work, which breaks the promise: UNAVAILABLE.
template <typename F>
auto RunOnLoop(EventLoop& loop, grpc::ServerContext* ctx, F fn)
    -> absl::StatusOr<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  enum State : int { kPending, kRunning, kAbandoned };
  struct Call {
    std::promise<T> promise;
    std::atomic<int> state{kPending};
  };
  auto call = std::make_shared<Call>();
  std::future<T> future = call->promise.get_future();
  loop.Post([call, fn = std::move(fn)]() mutable {
    int expected = kPending;
    if (call->state.compare_exchange_strong(expected, kRunning)) {
      call->promise.set_value(fn());
    }
  });
  absl::StatusOr<T> answer = WaitFor(ctx, future);
  if (answer.ok() || absl::IsUnavailable(answer.status())) {
    return answer;
  }
  int expected = kPending;
  if (call->state.compare_exchange_strong(expected, kAbandoned)) {
    return answer.status();  // the loop will skip it
  }
  // Already running: its effects happen, so report them.
  try {
    return future.get();
  } catch (const std::future_error&) {
    return absl::UnavailableError("the daemon is stopping");
  }
}

// RunOnLoop for work that can itself fail: one level of StatusOr.
template <typename F>
auto RunOnLoopFlat(EventLoop& loop, grpc::ServerContext* ctx, F fn) -> std::invoke_result_t<F&> {
  auto answer = RunOnLoop(loop, ctx, std::move(fn));
  if (!answer.ok()) {
    return answer.status();
  }
  return *std::move(answer);
}

}  // namespace ha
