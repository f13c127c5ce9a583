// lrmd's driver: applies the ExecutorCore's effects to the real world (agents run through a
// ProcessRunner, timers on the event loop, results to ExecSync callers and WatchResults
// subscribers), feeds it events, and serves the ResourceManager API.
//
// Threading: the core, the runner and the timers are used on the loop thread only. gRPC handlers
// run on gRPC's threads: they post their work to the loop and wait for its answer (polling their
// call's cancellation and deadline, so that a stopped loop never blocks a handler for good).
#pragma once

#include <cstddef>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/event_pump.h"
#include "common/stream_hub.h"
#include "lrmd/agent_command.h"
#include "lrmd/executor_core.h"
#include "lrmd/fencer_client.h"
#include "lrmd/process_runner.h"
#include "proto/lrmd.grpc.pb.h"

namespace ha::lrmd {

struct LrmdDriverOptions {
  AgentPaths paths;
  // stonithd's socket, for stonith-class resources (lrmd/stonith_actions.h). Empty: that class
  // is not offered and its actions fail as not connected.
  std::string fencer_socket;
  ExecutorOptions executor;
  size_t watch_queue_limit = 1000;  // results queued per WatchResults subscriber
};

class LrmdDriver final : public v1::ResourceManager::Service {
 public:
  // REQUIRES: `loop`, `clock` and `runner` outlive the driver; `runner` runs on `loop`.
  // `fencer`: how stonith resources reach stonithd; when null, a GrpcFencerClient on
  // options.fencer_socket (none if that is empty).
  LrmdDriver(EventLoop& loop,
             Clock& clock,
             ProcessRunner& runner,
             LrmdDriverOptions options = {},
             std::unique_ptr<FencerClient> fencer = nullptr);
  ~LrmdDriver() override;

  LrmdDriver(const LrmdDriver&) = delete;
  LrmdDriver& operator=(const LrmdDriver&) = delete;

  // Ends every WatchResults stream (UNAVAILABLE) and refuses new ones. Thread-safe.
  void Stop();

  // How many actions meant for the unprivileged user ran as lrmd's user because that user could
  // not execute the agent (see AgentPaths::unprivileged). Loop thread only.
  uint64_t privileged_fallbacks() const { return privileged_fallbacks_; }

  grpc::Status Exec(grpc::ServerContext*, const v1::ExecRequest*, v1::ExecResponse*) override;
  grpc::Status ExecSync(grpc::ServerContext*, const v1::ExecRequest*, v1::ActionResult*) override;
  grpc::Status Cancel(grpc::ServerContext*, const v1::CancelRequest*, v1::CancelResponse*) override;
  grpc::Status UnregisterResource(grpc::ServerContext*,
                                  const v1::UnregisterResourceRequest*,
                                  v1::UnregisterResourceResponse*) override;
  grpc::Status ListResources(grpc::ServerContext*,
                             const v1::ListResourcesRequest*,
                             v1::ListResourcesResponse*) override;
  grpc::Status GetHistory(grpc::ServerContext*,
                          const v1::GetHistoryRequest*,
                          v1::GetHistoryResponse*) override;
  grpc::Status GetMetadata(grpc::ServerContext*,
                           const v1::GetMetadataRequest*,
                           v1::GetMetadataResponse*) override;
  grpc::Status ListAgents(grpc::ServerContext*,
                          const v1::ListAgentsRequest*,
                          v1::ListAgentsResponse*) override;
  grpc::Status ListProviders(grpc::ServerContext*,
                             const v1::ListProvidersRequest*,
                             v1::ListProvidersResponse*) override;
  grpc::Status ListClasses(grpc::ServerContext*,
                           const v1::ListClassesRequest*,
                           v1::ListClassesResponse*) override;
  grpc::Status WatchResults(grpc::ServerContext*,
                            const v1::WatchResultsRequest*,
                            grpc::ServerWriter<v1::ActionResult>*) override;

 private:
  // What an ExecSync caller waits for: the call's first result.
  struct SyncWaiter {
    std::promise<ActionResult> result;
    bool forget_resource = false;  // unregister the resource once the result is in (meta-data)
  };
  // What the driver remembers of a call for its results: what the request named.
  struct CallInfo {
    v1::AgentId agent;
    std::string user_data;
    uint32_t timeout_ms = 0;
  };
  // Queues `event` and, unless already inside, handles queued events until none is left, so that
  // effects are applied in the order the core returned them.
  void Feed(Event event);
  void Apply(const Effect& effect);
  void RunAgentNow(const RunAgent& run);
  // Runs `cmd` for the core's run `run_id` and feeds its outcome back.
  void StartRun(int64_t run_id, const ActionRequest& request, AgentCommand cmd);
  // A stonith resource's start, stop or monitor: made by the fencer (`call`), not by an agent.
  void RunFencerCall(int64_t run_id, FencerCall call);
  void Publish(const ActionResult& result);

  // Exec on the loop: checks the request against the registered agent, feeds it, and returns the
  // call id (or the refusal). `waiter`, when given, gets the call's first result.
  absl::StatusOr<int64_t> ExecOnLoop(const ActionRequest& request,
                                     const v1::ExecRequest& proto,
                                     std::shared_ptr<SyncWaiter> waiter);
  // ExecSync's path: the whole result, waited for within `ctx`'s deadline.
  absl::StatusOr<ActionResult> RunSync(grpc::ServerContext* ctx,
                                       const ActionRequest& request,
                                       const v1::ExecRequest& proto,
                                       bool forget_resource);

  EventLoop& loop_;
  Clock& clock_;
  ProcessRunner& runner_;
  LrmdDriverOptions options_;

  // Loop thread only.
  ExecutorCore core_;
  EventPump<Event> pump_{[this](const Event& event) {
    for (const Effect& effect : core_.Handle(event, clock_.MonotonicNow())) {
      Apply(effect);
    }
  }};
  std::map<int64_t, EventLoop::TimerId> timers_;         // by TimerKey::call_id
  std::map<int64_t, ProcessRunner::RunId> runs_;         // core run id -> runner id
  std::map<int64_t, CallInfo> calls_;                    // unfinished calls
  std::map<std::string, v1::AgentId> agents_;            // by resource id
  std::map<int64_t, std::shared_ptr<SyncWaiter>> sync_;  // ExecSync callers by call id
  std::shared_ptr<SyncWaiter> assigning_;                // the waiter of the Exec being fed
  std::optional<CallInfo> assigning_info_;               // the CallInfo of the Exec being fed
  int64_t last_assigned_ = 0;                            // the last CallAssigned
  // Agents the unprivileged user could not execute (warned about once each), and how many
  // actions ran as lrmd's user because of it.
  std::set<std::string> unreachable_warned_;
  uint64_t privileged_fallbacks_ = 0;
  std::set<int64_t> fencer_runs_;       // core runs waiting for the fencer
  std::set<int64_t> fencer_cancelled_;  // of those, the ones cancelled meanwhile

  // Destroyed first (in ~LrmdDriver): its results stop before the rest goes.
  std::unique_ptr<FencerClient> fencer_;

  StreamHub<v1::ActionResult> watchers_{options_.watch_queue_limit, "results"};
};

}  // namespace ha::lrmd
