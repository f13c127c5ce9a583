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
//   choose: a topology level spread over several members (below) when it comes before every
//        |  member's first usable level; else among capable members not tried yet, never the
//        |  target itself unless allow_self, the lowest (first usable level, a device that failed
//        |  its monitor last, node id, pid); none: concluding
//        v
//   executing: the executor runs it through its core (id "<id>/<attempt>") and multicasts the
//        |     Result; done: finished everywhere. Failed, or the executor left the group: the next
//        |     candidate (failover), else concluding with the last reason
//        v
//   concluding: the lowest member of the view multicasts the failure (a new lowest member does
//               when it leaves), so that every node records the same completion time.
//
// Levels spread over several nodes: the answers also carry every device of the member able to
// fence the target and the target's topology levels as the member has them. A level (lowest index
// first, not tried yet) whose devices no single member holds but the members together do runs
// part by part: each device on the lowest member holding it, one attempt each (a RequestFence
// restricted to that device), off for every device then on for every device for a reboot (a
// failed "on" leaves the target off: done), off or on for themselves. A failed part, or its
// member leaving, fails the level: choose again (the next level, spread or whole). The record
// names every device ("p1,p2") and every executing node.
//
// Every time in the history comes from a message (the origin's request time, the executor's or
// reporter's completion time), so the histories are identical; the history is kept in the order
// (completion, request time, id), a function of its records. Each member also arms a deadline (the
// request's timeout, else 2 x stonith-timeout, plus answer_slack); the first Expire delivered
// fails the operation. A ConfirmFenced is multicast too: every node records the manual ack and
// completes the target's running operations.
//
// Old attempts: an attempt's result counts only for the current attempt number (a stale one is
// ignored). When this node's attempt is still running as its operation ends (expired, confirmed
// by hand) or as this node leaves the group (the others then fail over), its core operation is
// cancelled: the agent is killed and nothing more is tried, so it does not fence a second time.
//
// Joining (the history and state of the group): a member whose first view holds only itself has
// nothing to receive. Otherwise it buffers the views and messages delivered to it until it
// receives the group's state: the lowest member already in step, at every view that adds members
// (again when the one that should have sent it leaves first), multicasts a History message with
// its finished history, its running operations (their whole state), the merged requests, which
// members are in step, and, for each joining member, how many views it has seen since its first.
// The joining member drops what it buffered up to that view, installs the state, and replays the
// rest, so from there it handles every message as the others do (answers, executes, records). The
// members in step merge the records into their history (union by id; of two versions of one
// record, the final one, else the greater encoding). A member that had a history of its own (an
// earlier session) multicasts what the group lacked after installing. Without any state after
// SyncWait (answer_slack), it goes on with its own history (warning). Not covered: two partitions
// merging exchange their finished histories, but their running operations stay on their side.
//
// Cluster options (SetClusterOptions, from the CIB): stonith-timeout is the core's default action
// timeout; priority-fencing-delay is computed for the requests made here (PriorityFencingDelay
// with the nodes' resource priorities from the CIB's status and the view's members as online).
// only_if_lost requests: the core is told the view's members by name (SetMembership, with the
// quorum of SetQuorate) and every success (NoteFenced), and checks them after its delays
// (fencing_core.h).
//
// Fenced incarnations (like Pacemaker's controller, which exits fatally on "We were allegedly
// just fenced"): every member names its incarnation (FencingClusterOptions::incarnation, one per
// start of the node's stack) in every message, and multicasts a Hello at every view that adds
// members. The members learn each node's incarnations in agreed order (the latest few; in the
// group's state for joiners); a request records the target's known incarnations at its delivery.
// When an off or reboot (or a manual confirmation) of node N succeeds, those incarnations are
// fenced, for good: a member running one of them is refused (it leaves the members counted for
// fencing: its requests, answers and results are ignored, it is never chosen), and the lowest
// member multicasts a Fenced message naming it. The node itself stops (FencedSelf: the driver
// exits ExitCode::kFatal, so the supervisor stops the stack without a respawn) when a success of
// itself is delivered while its own incarnation was known at the request, when it is told by a
// Fenced message, or when it finds its incarnation fenced in the group's state. An incarnation
// that joined after the request was delivered (a stack started anew, e.g. after the reboot) is
// not fenced by it.
//
// Not in the group (before joining; standalone false): local requests wait and are multicast once
// joined. When the session is lost, the operations requested here are answered failed (the
// outcome is unknown) and the running ones are forgotten (the history is kept). Standalone (no
// membershipd): the core alone, as on a one-node cluster.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
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
  // This stonithd process, unique per start of the stack (a new one is accepted after a fencing
  // of this node; the old one is not). [A-Za-z0-9._-]; empty: derived from core.seed.
  std::string incarnation;
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
                                  TimerFired,
                                  MonitorTick,
                                  MonitorDevice>;

// This node learned that it was fenced while it still runs (a successful off or reboot of it
// delivered here, or the group refusing this incarnation). The driver must stop the node's whole
// stack for good (ExitCode::kFatal: the supervisor does not respawn). The cluster ignores every
// event from here on.
struct FencedSelf {
  std::string op_id;
  std::string executor;  // the node that fenced it (or that refused this incarnation)
  std::string origin;    // client@node that asked for it
  std::string why;       // the whole sentence, logged
};

// The core's effects (never a TargetsAnswer; OperationChanged for the cluster's operations),
// then payloads to multicast to the group, in order.
struct ClusterEffects {
  Effects effects;
  std::vector<std::string> multicasts;
  std::optional<FencedSelf> fenced_self;
};

class FencingCluster {
 public:
  explicit FencingCluster(FencingClusterOptions options);

  // Devices, topology and node attributes are the core's.
  FencingCore& core() { return core_; }
  const FencingCore& core() const { return core_; }

  ClusterEffects Handle(ClusterEvent event, Now now);

  // The cluster options of the CIB (between events): stonith-timeout becomes the core's default
  // action timeout and the base of the deadlines; priority-fencing-delay is given to the requests
  // made on this node that carry no delay of their own (PriorityFencingDelay, with the members
  // of the current view as the online nodes). stonith-enabled and stonith-action are the
  // driver's (it refuses requests, or fills in the action).
  void SetClusterOptions(const FencingOptions& options);
  const FencingOptions& cluster_options() const { return cluster_options_; }
  // The cluster's nodes (the CIB's <nodes>), the name of each node id, and the nodes' resource
  // priorities (NodePriorities).
  // Whether this node's partition has quorum (membershipd's), for only_if_lost requests.
  void SetQuorate(bool quorate) {
    quorate_ = quorate;
    UpdateCoreMembership();
  }
  void SetNodes(std::set<std::string> nodes,
                std::map<uint32_t, std::string> names,
                std::map<std::string, int> priorities);

  // Running and finished operations, newest first (as FencingCore::History).
  std::vector<FenceRecord> History(std::string_view target = "") const;
  // Finished operations, oldest first: identical on every member that saw them all.
  const std::deque<FenceRecord>& finished() const { return history_; }
  bool joined() const { return joined_; }
  // The members of the latest view (also while waiting for the group's state after joining).
  size_t members() const { return latest_view_size_; }
  size_t running() const { return ops_.size(); }
  // The members refused as fenced incarnations (in the view, never counted for fencing).
  const std::set<GroupMember>& refused() const { return refused_; }
  // Whether this node learned it was fenced (FencedSelf); it handles nothing more.
  bool fenced_self() const { return fenced_self_; }
  const std::string& incarnation() const { return incarnation_; }

 private:
  enum class Phase { kAsking, kExecuting, kConcluding };
  struct Candidate {
    std::string node;
    int level = 0;
    bool degraded = false;  // its first device failed its last monitor: chosen after the others
  };
  // A member's answer as far as levels spread over several nodes need it.
  struct Holdings {
    std::string node;
    std::vector<std::string> devices;  // its devices able to fence the target
    std::string levels;                // the target's levels there ("1=d1+d2;2=d3")
  };
  // One device of a spread level, run by the member holding it.
  struct Part {
    GroupMember member;
    std::string node;
    std::string device;
    FenceAction action = FenceAction::kOff;
    bool tolerated = false;  // the "on" of a reboot: its failure leaves the target off, done
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
    std::map<GroupMember, Holdings> holdings;  // every answer naming devices or levels
    int spread_level = 0;                      // the spread level executing, 0 when none
    std::vector<Part> parts;
    size_t part = 0;
    std::set<int> spread_tried;
    // The target's incarnations known at the request's delivery: fenced by its success.
    std::vector<std::string> target_incarnations;
  };

  void OnLocalFence(RequestFence request, Now now, ClusterEffects& out);
  void OnLocalConfirm(const ConfirmFenced& confirm, Now now, ClusterEffects& out);
  void OnJoined(GroupMember self, ClusterEffects& out);
  void OnView(std::vector<GroupMember> members, Now now, ClusterEffects& out);
  void OnDelivered(const GroupDelivered& delivered, Now now, ClusterEffects& out);
  void ProcessView(std::vector<GroupMember> members, Now now, ClusterEffects& out);
  void ProcessDelivered(const GroupDelivered& delivered, Now now, ClusterEffects& out);
  void OnLost(const std::string& why, Now now, ClusterEffects& out);
  void OnTimer(const TimerKey& key, Now now, ClusterEffects& out);

  void OnRequest(const WireMessage& m, Now now, ClusterEffects& out);
  void OnAnswer(const GroupMember& sender, const WireMessage& m, Now now, ClusterEffects& out);
  void OnResult(const WireMessage& m, Now now, ClusterEffects& out);
  void OnExpire(const WireMessage& m, Now now, ClusterEffects& out);
  absl::Duration Deadline(const WireMessage& request) const;
  void OnConfirm(const WireMessage& m, Now now, ClusterEffects& out);

  void MaybeChoose(Op& op, Now now, ClusterEffects& out);
  // Picks the next executor; false when no candidate is left.
  bool Choose(Op& op, Now now, ClusterEffects& out);
  // The first topology level below `below` not tried yet whose devices no single member holds
  // but several together do: its parts, in execution order (empty: none).
  struct Spread {
    int level = 0;  // 0: none
    std::vector<Part> parts;
  };
  Spread PlanSpread(const Op& op, int below) const;
  void StartPart(Op& op, Now now, ClusterEffects& out);
  void Conclude(Op& op, std::string reason, Now now, ClusterEffects& out);
  void SendConclusion(const Op& op, Now now, ClusterEffects& out);
  void Finish(Op& op,
              FenceState state,
              const std::string& device,
              int level,
              const std::string& reason,
              int64_t completed_ms,
              Now now,
              ClusterEffects& out);
  // Cancels this node's core attempt `id` ("<op>/<attempt>") if it still runs.
  void CancelAttempt(const std::string& id,
                     const std::string& target,
                     const std::string& reason,
                     Now now,
                     ClusterEffects& out);
  void Send(const WireMessage& m, ClusterEffects& out);
  // Feeds the core, intercepting its TargetsAnswer and the attempts' OperationChanged.
  void FeedCore(Event event, Now now, ClusterEffects& out);
  // Adds `record` to the history at its place (completion, request time, id); a record of the
  // same id is replaced when `record` is the preferred version. False: nothing changed.
  bool Record(FenceRecord record);
  // Publishes `record`; a final state ends what this node waits for.
  void Emit(const FenceRecord& record, ClusterEffects& out);
  bool IsReporter() const;

  // Joining (see the head comment).
  struct Buffered {
    bool is_view = false;
    std::vector<GroupMember> members;  // is_view
    GroupDelivered delivered;          // !is_view
  };
  absl::Duration SyncWait() const;
  void ResetSync(ClusterEffects& out);
  void Replay(std::vector<Buffered> buffered, Now now, ClusterEffects& out);
  void SendState(Now now, ClusterEffects& out);
  void OnHistory(const WireMessage& m, ClusterEffects& out);
  void InstallState(const WireMessage& m, int views, Now now, ClusterEffects& out);
  static std::string EncodeOp(const Op& op);
  static absl::StatusOr<Op> DecodeOp(const std::string& text);
  static std::set<GroupMember> ParseMembers(const std::string& text);
  static std::map<GroupMember, int> ParseSyncFor(const std::string& text);

  // Fenced incarnations (see the head comment).
  void OnHello(const GroupMember& sender, const WireMessage& m, ClusterEffects& out);
  void OnFenced(const WireMessage& m, ClusterEffects& out);
  // Learns `sender`'s name and incarnation from any message; false when it is a fenced
  // incarnation (then refused, and the message must be ignored) or already refused.
  bool Admit(const GroupMember& sender, const WireMessage& m, Now now, ClusterEffects& out);
  void Refuse(const GroupMember& member,
              const std::string& node,
              const std::string& incarnation,
              Now now,
              ClusterEffects& out);
  // Records `incarnations` of `target` as fenced; refuses the members running one of them, and
  // stops this node when it runs one.
  void NoteFencedIncarnations(const std::string& target,
                              const std::vector<std::string>& incarnations,
                              const FenceRecord& record,
                              Now now,
                              ClusterEffects& out);
  void StopFenced(FencedSelf fenced, ClusterEffects& out);
  // The members removed from view_ (left, or refused): their operations' answers, executions
  // and reports are not waited for.
  void DropGone(Now now, ClusterEffects& out);
  static std::string EncodeIncarnations(
      const std::map<std::string, std::deque<std::string>>& table);
  static std::map<std::string, std::deque<std::string>> DecodeIncarnations(const std::string& text);

  // Tells the core which nodes are members now (the view's, by name), for only_if_lost.
  void UpdateCoreMembership();
  // priority-fencing-delay for a request made here against `target` (zero when it does not apply).
  absl::Duration PriorityDelay(const RequestFence& request, ClusterEffects& out) const;

  FencingClusterOptions options_;
  FencingCore core_;
  FencingOptions cluster_options_;
  std::set<std::string> nodes_;
  std::map<uint32_t, std::string> node_names_;
  std::map<std::string, int> node_priorities_;
  std::map<GroupMember, std::string> member_names_;  // learned from their answers
  std::optional<bool> quorate_;
  bool joined_ = false;
  GroupMember self_;
  std::set<GroupMember> view_;                // the view's members less the refused ones
  std::set<GroupMember> raw_view_;            // the view as delivered
  std::vector<WireMessage> unsent_;           // made here before joining
  std::map<std::string, FenceRecord> local_;  // made here, sent and not finished
  std::map<std::string, Op> ops_;             // running, by id
  std::map<std::string, FenceRecord> pending_merged_;
  std::deque<FenceRecord> history_;  // finished, by (completion, request time, id)

  // Joining: false from GroupJoined until this node holds the group's state (a kHistory for it,
  // or alone in the group, or SyncWait without one); until then views and messages wait in
  // buffer_. synced_members_: the members known to hold the state; awaiting_: the members that
  // joined and wait for it, with the number of views since their join.
  bool synced_ = false;
  std::set<GroupMember> synced_members_;
  std::map<GroupMember, int> awaiting_;
  std::vector<Buffered> buffer_;
  size_t latest_view_size_ = 0;

  // Fenced incarnations: every node's incarnations seen in the group (the latest few, learned
  // from messages in agreed order, in the group's state for joiners), those fenced, the
  // incarnation of each member, and the members refused.
  std::string incarnation_;
  std::map<std::string, std::deque<std::string>> known_;
  std::map<std::string, std::deque<std::string>> fenced_;
  std::map<GroupMember, std::string> incarnations_;
  std::set<GroupMember> refused_;
  std::set<GroupMember> delivered_view_;  // the latest view delivered (a hello when it grows)
  bool fenced_self_ = false;
};

}  // namespace ha::stonithd
