// The seam between lrmd and the fencer for stonith-class resources (lrmd/stonith_actions.h): the
// calls lrmd makes, answered on lrmd's loop. GrpcFencerClient makes them on stonithd's socket
// (proto/stonithd.proto's Fencer) from a thread of its own; tests may give the driver another
// implementation.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "lrmd/stonith_actions.h"

namespace grpc {
class ClientContext;
}

namespace ha::lrmd {

class FencerClient {
 public:
  // What stonithd answered, or why a call failed, with the Fencer API's codes (UNAVAILABLE:
  // stonithd is not running; DEADLINE_EXCEEDED: call.timeout passed).
  using Done = absl::AnyInvocable<void(absl::StatusOr<FencerAnswer>)>;

  virtual ~FencerClient() = default;

  // Makes `call`, giving up after call.timeout. `done` runs on the loop, never inside Call(),
  // and not at all once the client is destroyed. Loop thread only.
  virtual void Call(FencerCall call, Done done) = 0;
};

// Calls stonithd on `socket_path`, one call at a time, on a worker thread; the results are posted
// to `loop`. Destroying it cancels the call in flight and joins the thread.
class GrpcFencerClient final : public FencerClient {
 public:
  // REQUIRES: `loop` and `clock` outlive the client; `clock` may be read from any thread.
  GrpcFencerClient(EventLoop& loop, Clock& clock, std::string socket_path);
  ~GrpcFencerClient() override;

  GrpcFencerClient(const GrpcFencerClient&) = delete;
  GrpcFencerClient& operator=(const GrpcFencerClient&) = delete;

  void Call(FencerCall call, Done done) override;

  const std::string& socket_path() const { return socket_path_; }

 private:
  struct Job {
    FencerCall call;
    Done done;
  };
  void Work();
  absl::StatusOr<FencerAnswer> Make(const FencerCall& call);

  EventLoop& loop_;
  Clock& clock_;
  const std::string socket_path_;
  // Set to false by the destructor; results still queued on the loop are then dropped.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);

  absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace ha::lrmd
