// stonithd across the cluster (like Pacemaker's fenced_remote.c): a fencing request goes to every
// stonithd through the `stonithd` process group, one capable node executes it with its local
// FencingCore, and every node records the same history. A pure state machine on top of
// FencingCore: the driver feeds it the group's sessions, views and messages (agreed order, as
// membershipd delivers them), the local clients' requests and the core's agent results and
// timers, and applies its effects: the core's, plus multicasts to the group.
//
// One request, as every member handles it at the same point of the agreed order:
//
//   Request delivered -(merged: same target and action running)-> completes with that one
//        |            -(tolerance: a success this recent in the history)-> answered at once
//        v
//   asking: every member of the view at delivery answers (its core's QueryTargets: a usable
//        |  topology level or a capable device); a member that leaves is not waited for
//        v
//   choose: among capable members not tried yet, never the target itself unless allow_self, the
//        |  lowest (first usable level, node id, pid); none: concluding
//        v
//   executing: the executor runs it through its core (id "<id>/<attempt>") and multicasts the
//        |     Result; done: finished everywhere. Failed, or the executor left the group: the next
//        |     candidate (failover), else concluding with the last reason
//        v
//   concluding: the lowest member of the view multicasts the failure (a new lowest member does
//               when it leaves), so that every node records the same completion time.
//
// Every time in the history comes from a message (the origin's request time, the executor's or
// reporter's completion time), so the histories are identical. Each member also arms a deadline
// (the request's timeout, else 2 x stonith-timeout, plus answer_slack); the first Expire delivered
// fails the operation. A ConfirmFenced is multicast too: every node records the manual ack and
// completes the target's running operations.
//
// Not in the group (before joining; standalone false): local requests wait and are multicast once
// joined. When the session is lost, the operations requested here are answered failed (the
// outcome is unknown) and the running ones are forgotten; a node that (re)joins does not receive
// the earlier history. Standalone (no membershipd): the core alone, as on a one-node cluster.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "stonithd/cluster_wire.h"
#include "stonithd/fencing_core.h"

namespace ha::stonithd {

// A process group member, as membershipd names it.
struct GroupMember {
  uint32_t node_id = 0;
  uint32_t pid = 0;
  auto operator<=>(const GroupMember&) const = default;
};

struct FencingClusterOptions {
  FencingCoreOptions core;  // core.local_node names this node
  bool standalone = false;  // no group: the core executes with this node's devices
  absl::Duration answer_slack = absl::Seconds(10);  // added to the deadline for the answers
};

// ---- Events (besides the core's AgentFinished and TimerFired) ----

struct LocalFence {
  RequestFence request;  // REQUIRES: a unique id (a UUID)
};
struct LocalConfirm {
  ConfirmFenced confirm;  // REQUIRES: a unique id
};
struct GroupJoined {
  GroupMember self;
};
struct GroupView {
  std::vector<GroupMember> members;
};
struct GroupDelivered {
  GroupMember sender;
  std::string payload;
};
struct GroupLost {
  std::string why;
};
using ClusterEvent = std::variant<LocalFence,
                                  LocalConfirm,
                                  GroupJoined,
                                  GroupView,
                                  GroupDelivered,
                                  GroupLost,
                                  AgentFinished,
                                  TimerFired>;

// The core's effects (never a TargetsAnswer; OperationChanged for the cluster's operations),
// then payloads to multicast to the group, in order.
struct ClusterEffects {
  Effects effects;
  std::vector<std::string> multicasts;
};

class FencingCluster {
 public:
  explicit FencingCluster(FencingClusterOptions options);

  // Devices, topology and node attributes are the core's.
  FencingCore& core() { return core_; }
  const FencingCore& core() const { return core_; }

  ClusterEffects Handle(ClusterEvent event, Now now);

  // Running and finished operations, newest first (as FencingCore::History).
  std::vector<FenceRecord> History(std::string_view target = "") const;
  // Finished operations, oldest first: identical on every member that saw them all.
  const std::deque<FenceRecord>& finished() const { return history_; }
  bool joined() const { return joined_; }
  size_t members() const { return view_.size(); }
  size_t running() const { return ops_.size(); }

 private:
  enum class Phase { kAsking, kExecuting, kConcluding };
  struct Candidate {
    std::string node;
    int level = 0;
  };
  struct Op {
    FenceRecord record;
    WireMessage request;
    Phase phase = Phase::kAsking;
    std::set<GroupMember> waiting;             // answers still expected
    std::map<GroupMember, Candidate> capable;  // members that can fence the target
    std::set<GroupMember> tried;
    GroupMember executor;
    GroupMember reporter;  // concluding: the member that multicasts the failure
    int attempt = 0;
    std::string last_reason;
    std::string conclude_reason;
    std::vector<std::string> merged;
  };

  void OnLocalFence(RequestFence request, Now now, ClusterEffects& out);
  void OnLocalConfirm(const ConfirmFenced& confirm, Now now, ClusterEffects& out);
  void OnJoined(GroupMember self, ClusterEffects& out);
  void OnView(std::vector<GroupMember> members, Now now, ClusterEffects& out);
  void OnDelivered(const GroupDelivered& delivered, Now now, ClusterEffects& out);
  void OnLost(const std::string& why, ClusterEffects& out);
  void OnTimer(const TimerKey& key, Now now, ClusterEffects& out);

  void OnRequest(const WireMessage& m, Now now, ClusterEffects& out);
  void OnAnswer(const GroupMember& sender, const WireMessage& m, Now now, ClusterEffects& out);
  void OnResult(const WireMessage& m, Now now, ClusterEffects& out);
  void OnExpire(const WireMessage& m, ClusterEffects& out);
  absl::Duration Deadline(const WireMessage& request) const;
  void OnConfirm(const WireMessage& m, Now now, ClusterEffects& out);

  void MaybeChoose(Op& op, Now now, ClusterEffects& out);
  // Picks the next executor; false when no candidate is left.
  bool Choose(Op& op, Now now, ClusterEffects& out);
  void Conclude(Op& op, std::string reason, Now now, ClusterEffects& out);
  void SendConclusion(const Op& op, Now now, ClusterEffects& out);
  void Finish(Op& op,
              FenceState state,
              const std::string& device,
              int level,
              const std::string& reason,
              int64_t completed_ms,
              ClusterEffects& out);
  void Send(const WireMessage& m, ClusterEffects& out);
  // Feeds the core, intercepting its TargetsAnswer and the attempts' OperationChanged.
  void FeedCore(Event event, Now now, ClusterEffects& out);
  void Record(FenceRecord record);
  // Publishes `record`; a final state ends what this node waits for.
  void Emit(const FenceRecord& record, ClusterEffects& out);
  bool IsReporter() const;

  FencingClusterOptions options_;
  FencingCore core_;
  bool joined_ = false;
  GroupMember self_;
  std::set<GroupMember> view_;
  std::vector<WireMessage> unsent_;           // made here before joining
  std::map<std::string, FenceRecord> local_;  // made here, sent and not finished
  std::map<std::string, Op> ops_;             // running, by id
  std::map<std::string, FenceRecord> pending_merged_;
  std::deque<FenceRecord> history_;  // finished, oldest first
};

}  // namespace ha::stonithd
