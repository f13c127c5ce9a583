// stonithd's driver: applies the FencingCore's effects to the real world (fence agents through
// FenceAgentRunner on lrmd's ProcessRunner, timers on the event loop, operations to Fence callers
// and WatchEvents subscribers), feeds it events, keeps which devices and levels came from the CIB
// and which from the API, and serves the Fencer API.
//
// Requests go through a FencingCluster (stonithd/fencing_cluster.h): with the `stonithd` process
// group (common/group_link.h feeds the On* methods below, `standalone` false) a request is
// multicast, executed by one capable node and recorded by all; standalone (no membershipd, as in
// the driver tests) this node executes with its own devices.
//
// Threading: the core, the runner and the timers are used on the loop thread only. gRPC handlers
// post their work to the loop and wait for its answer (common/loop_call.h); handlers that wait
// for an agent (Fence, ListTargets, meta-data) get the answer through a callback from the loop.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/event_pump.h"
#include "common/stream_hub.h"
#include "lrmd/process_runner.h"
#include "proto/stonithd.grpc.pb.h"
#include "stonithd/fence_agent.h"
#include "stonithd/fence_device.h"
#include "stonithd/fencing_cluster.h"
#include "stonithd/fencing_core.h"

namespace ha::stonithd {

struct StonithdDriverOptions {
  FencingCoreOptions core;  // core.local_node names this node
  std::string incarnation;  // FencingClusterOptions::incarnation: unique per process
  FenceAgentPaths paths;
  absl::Duration metadata_timeout = absl::Seconds(10);
  absl::Duration list_timeout = absl::Seconds(30);  // ListTargets / ListDevices queries
  size_t watch_queue_limit = 1000;                  // events queued per WatchEvents subscriber
  bool standalone = true;  // false: the `stonithd` group (SetGroupSend and the On* events)
};

class StonithdDriver final : public v1::Fencer::Service {
 public:
  // REQUIRES: `loop`, `clock` and `runner` outlive the driver; `runner` runs on `loop`.
  StonithdDriver(EventLoop& loop,
                 Clock& clock,
                 lrmd::ProcessRunner& runner,
                 StonithdDriverOptions options);
  ~StonithdDriver() override;

  StonithdDriver(const StonithdDriver&) = delete;
  StonithdDriver& operator=(const StonithdDriver&) = delete;

  // Ends every WatchEvents stream (UNAVAILABLE) and refuses new ones. Thread-safe.
  void Stop();

  // The `stonithd` group's session (loop thread; common/group_link.h's handlers). Multicasts go to
  // `send` with the generation of the joined session. SetGroupSend before the link starts.
  using GroupSend = std::function<void(uint64_t generation, std::string payload)>;
  void SetGroupSend(GroupSend send) { group_send_ = std::move(send); }
  void OnGroupJoined(uint64_t generation, GroupMember self);
  void OnGroupChange(uint64_t generation, std::vector<GroupMember> members);
  void OnGroupMessage(uint64_t generation, GroupMember sender, std::string payload);
  void OnGroupLost(uint64_t generation, std::string why);
  // membershipd's quorum (loop thread): only_if_lost requests do not shoot without it.
  void OnQuorum(bool quorate);
  // Called once, on the loop, when this node learns it was fenced while it still runs
  // (FencedSelf, already logged): the daemon must stop the node's stack for good (exit
  // ExitCode::kFatal). From then on the driver handles nothing of the group. Set before the link
  // starts.
  void SetFencedListener(std::function<void(const FencedSelf&)> listener) {
    on_fenced_ = std::move(listener);
  }
  // Told a one-line description of the group state when it changes (the daemon's health).
  void SetStatusListener(std::function<void(const std::string&)> listener) {
    on_status_ = std::move(listener);
  }

  // Replaces the devices and topology that came from the CIB (loop thread only). A device of
  // the CIB replaces one registered through the API with the same id.
  void ApplyCibConfig(FencingConfig config);
  // The meta-data capabilities of `agent` (cached once read), waiting up to `timeout`; unknown
  // (`known` false) when the meta-data cannot be read or `give_up` returns true. Any thread but
  // the loop's.
  AgentCapabilities CapabilitiesOf(const std::string& agent,
                                   absl::Duration timeout,
                                   const std::function<bool()>& give_up = {});

  grpc::Status Fence(grpc::ServerContext*, const v1::FenceRequest*, v1::FenceResponse*) override;
  grpc::Status ConfirmFenced(grpc::ServerContext*,
                             const v1::ConfirmFencedRequest*,
                             v1::ConfirmFencedResponse*) override;
  grpc::Status GetHistory(grpc::ServerContext*,
                          const v1::GetHistoryRequest*,
                          v1::GetHistoryResponse*) override;
  grpc::Status ListDevices(grpc::ServerContext*,
                           const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse*) override;
  grpc::Status ListTargets(grpc::ServerContext*,
                           const v1::ListTargetsRequest*,
                           v1::ListTargetsResponse*) override;
  grpc::Status MonitorDevice(grpc::ServerContext*,
                             const v1::MonitorDeviceRequest*,
                             v1::MonitorDeviceResponse*) override;
  grpc::Status RegisterDevice(grpc::ServerContext*,
                              const v1::RegisterDeviceRequest*,
                              v1::RegisterDeviceResponse*) override;
  grpc::Status UnregisterDevice(grpc::ServerContext*,
                                const v1::UnregisterDeviceRequest*,
                                v1::UnregisterDeviceResponse*) override;
  grpc::Status RegisterLevel(grpc::ServerContext*,
                             const v1::RegisterLevelRequest*,
                             v1::RegisterLevelResponse*) override;
  grpc::Status UnregisterLevel(grpc::ServerContext*,
                               const v1::UnregisterLevelRequest*,
                               v1::UnregisterLevelResponse*) override;
  grpc::Status ListLevels(grpc::ServerContext*,
                          const v1::ListLevelsRequest*,
                          v1::ListLevelsResponse*) override;
  grpc::Status WatchEvents(grpc::ServerContext*,
                           const v1::WatchEventsRequest*,
                           grpc::ServerWriter<v1::FenceEvent>*) override;

 private:
  // Called once, on the loop, with the record a Fence or ConfirmFenced caller waits for.
  using RecordCallback = std::function<void(const FenceRecord&)>;
  struct Waiter {
    RecordCallback reply;
    bool final_only = true;  // false: the first state (async Fence)
  };
  // Whether a device can fence a target, asked of its agent when its configuration cannot say.
  using CapableCallback = std::function<void(bool)>;

  void Feed(ClusterEvent event);
  void ReportStatus();
  void Apply(const Effect& effect);
  void RunAgentNow(const RunAgent& run);
  void PublishOperation(const FenceRecord& record);
  void PublishDevice(const std::string& id, bool registered, v1::DeviceSource source);
  void PublishTopologyChanged();

  // Loop thread: runs `action` of `device` outside of any operation (queries of the API).
  void RunQuery(const FenceDevice& device,
                const std::string& action,
                const std::string& target,
                std::function<void(FenceResult)> done);
  void CheckCapable(const FenceDevice& device, const std::string& target, CapableCallback done);
  // Loop thread: arms the once-a-second MonitorTick (device monitoring) if not armed yet.
  void EnsureMonitorTick();
  // Loop thread: answers the MonitorDevice callers waiting for `device`.
  void AnswerMonitorWaiters(const std::string& device, const DeviceHealth& health);
  // Loop thread: the topology the core uses, the CIB's levels then the API's (which win).
  void RebuildTopology();
  v1::DeviceSource SourceOf(const std::string& id) const;
  std::string NewOperationId();

  EventLoop& loop_;
  Clock& clock_;
  StonithdDriverOptions options_;
  FenceAgentRunner agents_;

  // Loop thread only.
  FencingCluster cluster_;
  EventPump<ClusterEvent> pump_{[this](const ClusterEvent& event) {
    ClusterEffects out = cluster_.Handle(event, Now{clock_.MonotonicNow(), clock_.WallNow()});
    for (const Effect& effect : out.effects) {
      Apply(effect);
    }
    for (std::string& payload : out.multicasts) {
      if (group_send_ && generation_ != 0) {
        group_send_(generation_, std::move(payload));
      }
    }
    if (out.fenced_self.has_value() && on_fenced_) {
      on_fenced_(*out.fenced_self);
    }
  }};
  GroupSend group_send_;
  uint64_t generation_ = 0;  // the joined session's, 0 when none
  std::function<void(const std::string&)> on_status_;
  std::function<void(const FencedSelf&)> on_fenced_;
  std::string last_status_;
  std::map<TimerKey, EventLoop::TimerId> timers_;
  std::map<int64_t, FenceAgentRunner::RunId> runs_;  // core run id -> runner id
  std::map<std::string, Waiter> waiters_;            // by operation id
  std::map<std::string, v1::DeviceSource> sources_;  // by device id
  std::vector<FencingLevel> cib_levels_;
  std::vector<FencingLevel> api_levels_;
  FencingTopology topology_;  // what the core has: cib_levels_ and api_levels_
  NodeAttributes node_attributes_;
  std::map<std::string, AgentCapabilities> capabilities_;  // by agent, read meta-data only
  std::optional<EventLoop::TimerId> monitor_tick_;
  // MonitorDevice callers waiting for their device's monitor, by device.
  std::map<std::string, std::vector<std::function<void(const DeviceHealth&)>>> monitor_waiters_;

  StreamHub<v1::FenceEvent> watchers_{options_.watch_queue_limit, "fencing events"};
};

}  // namespace ha::stonithd
