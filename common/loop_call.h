// Calling into a daemon's loop from a gRPC handler thread: the handler posts its work to the loop
// and waits for the answer, polling its call's cancellation and deadline so that a stopped loop
// never blocks a handler for good.
#pragma once

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

// Runs `fn` on `loop` and waits for what it returns, within `ctx`. A stopped loop drops the
// posted work, which breaks the promise: the caller gets UNAVAILABLE.
template <typename F>
auto RunOnLoop(EventLoop& loop, grpc::ServerContext* ctx, F fn)
    -> absl::StatusOr<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  loop.Post([promise, fn = std::move(fn)]() mutable { promise->set_value(fn()); });
  return WaitFor(ctx, future);
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
