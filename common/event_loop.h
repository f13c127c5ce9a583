// The one event loop of a daemon. All of a daemon's logic runs on its loop thread; other threads
// (gRPC's, the accept thread) hand work to it with Post(). The real implementation is libqb's
// qb_loop (QbEventLoop); the simulator has its own.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ha {

class EventLoop {
 public:
  using Callback = absl::AnyInvocable<void()>;
  using TimerId = uint64_t;

  virtual ~EventLoop() = default;

  // Runs `cb` once on the loop after `after`. Must be called on the loop thread.
  virtual TimerId AddTimer(absl::Duration after, Callback cb) = 0;
  // Cancels a timer that has not fired; unknown or fired ids are ignored. Loop thread only.
  virtual void CancelTimer(TimerId id) = 0;
  // Calls `on_readable` on the loop each time `fd` is readable (or hung up), until Unwatch(fd).
  virtual absl::Status WatchReadable(int fd, absl::AnyInvocable<void()> on_readable) = 0;
  virtual void Unwatch(int fd) = 0;
  // Calls `cb` on the loop when the process receives `signo` (the signal handler only wakes the
  // loop). Loop thread only, before or during Run().
  virtual absl::Status OnSignal(int signo, absl::AnyInvocable<void()> cb) = 0;
  // Runs `cb` on the loop as soon as possible. Thread-safe.
  virtual void Post(Callback cb) = 0;
  // Runs until Stop(). Stop() is thread-safe.
  virtual void Run() = 0;
  virtual void Stop() = 0;
};

// The libqb implementation. Only one per process may handle signals.
absl::StatusOr<std::unique_ptr<EventLoop>> CreateQbEventLoop();

}  // namespace ha
