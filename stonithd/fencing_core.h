// stonithd's fencing core (like the execution half of Pacemaker's fenced: fenced_remote.c's
// operation handling and fenced_commands.c's device execution), as a pure state machine.
//
// The driver feeds it events with the time (monotonic, for timers and retry windows; wall, for
// the history) and applies the effects it returns, in order: run or cancel an agent (through
// FenceAgentRunner), arm or cancel a timer, publish an operation's new state, log. The core does
// no I/O, reads no clock and draws its random delays from its own seeded generator, so a run
// replays exactly from its seed. It executes with the devices registered on this node; asking the
// other nodes (the `stonithd` process group) is FencingCluster's (fencing_cluster.h).
//
// A fencing operation (RequestFence) goes through these phases:
//
//   RequestFence -(self, or tolerance hit, or merged)-> answered at once
//        |
//        v
//   kQuerying: which devices can fence the target: static checks, and the agent's list or status
//        |     action for dynamic-list / status devices (lists are cached for list_cache_ttl)
//        v
//   plan: the target's topology levels in index order (a level is usable when all its devices
//        |  are registered and capable), else one step per capable device (priority, then id);
//        |  no step: FAILED "No fence device"
//        v
//   for each step, its sub-actions in order: reboot is the device's reboot when there is one
//   device that has reboot, else every device off then every device on (Pacemaker's remapping);
//   off and on are themselves. Before the first sub-action, the request's delay
//   (priority-fencing-delay); before each off/reboot, the device's pcmk_delay_base plus a random
//   part up to pcmk_delay_max:
//        kDelaying -(timer)-> kExecuting -(agent ok)-> next sub-action ... -> DONE
//                                 | failed, tries left and < 70% of its timeout used
//                                 v
//                             kRetryWait -(timer, 1 s)-> kExecuting (with what is left of it)
//        a failed sub-action fails its step: the next step starts (fall through); when the last
//        one fails: FAILED with the last reason. A failed "on" of a remapped reboot after every
//        "off" succeeded still counts as done (the target is off), with a warning.
//   The whole operation times out (FAILED) after the sum of its sub-actions' timeouts plus
//   delays, times 1.2 (Pacemaker's factor), or the request's own timeout (plus its delay) when
//   given.
//
// Unfencing ("on" without topology) runs in one step through every capable device that provides
// unfencing (provides=unfencing), when there is one. A request restricted to `devices` plans just
// those (a part of a level spread over several nodes). An only_if_lost request checks, after its
// delays and before its first off or reboot, that it should still shoot (RunSub, StillWanted).
// CancelOperation ends an operation at once (its agent killed).
//
// Device monitoring: each MonitorTick runs the agent's monitor action of every device whose
// monitor is due (every monitor_interval, the first at once; MonitorDevice runs one now), keeping
// its health (DeviceChecked). A device whose last monitor failed is planned after the healthy
// ones (still used when nothing else can fence the target); a QueryTargets answer is `degraded`
// when its first step has one.
//
// Merging: a request for a target and action while an operation for the same target and action
// is running is not executed again: it completes with that operation's result. Self-fencing: a
// request against the local node fails unless allow_self. ConfirmFenced records a manual "off"
// (device "manual ack"), completes the target's running operations, and logs at kCrit.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "stonithd/fence_agent.h"
#include "stonithd/fence_device.h"

namespace ha::stonithd {

// Mirrors ha.stonithd.v1.FenceAction.
enum class FenceAction { kReboot, kOff, kOn };
const char* FenceActionName(FenceAction action);  // "reboot", "off", "on"

// Mirrors ha.stonithd.v1.FenceState.
enum class FenceState {
  kPending,  // requested; devices being queried, waited for or executed
  kDone,     // the target is off (rebooted, or on for kOn)
  kFailed,   // the target's state is unknown
};
const char* FenceStateName(FenceState state);  // "pending", "done", "failed"

// One fencing operation, as the history keeps it (mirrors ha.stonithd.v1.FenceOperation).
struct FenceRecord {
  std::string id;
  std::string target;
  FenceAction action = FenceAction::kReboot;
  FenceState state = FenceState::kPending;
  std::string device;    // the device that succeeded, or the last one tried; "manual ack"
  std::string delegate;  // the node that executed it
  std::string origin;    // the node where it was requested
  std::string client;
  absl::Time requested = absl::InfinitePast();  // wall clock
  absl::Time completed = absl::InfinitePast();  // wall clock; InfinitePast while pending
  std::string exit_reason;
  int level = 0;                  // the topology index of `device`; 0 without topology
  bool within_tolerance = false;  // an earlier result returned for this request
  std::string merged_into;        // the operation whose result this request shares
};

// A history listing for `target` ("" = every target), newest first: the running operations'
// records (`running`, unfiltered), the merged requests still pending, both by request time, then
// the finished ones (`finished` is oldest first). FencingCore and FencingCluster both list this
// way.
std::vector<FenceRecord> ListHistory(std::vector<FenceRecord> running,
                                     const std::map<std::string, FenceRecord>& pending,
                                     const std::deque<FenceRecord>& finished,
                                     std::string_view target);

inline constexpr char kManualAck[] = "manual ack";

struct FencingCoreOptions {
  std::string local_node;                              // REQUIRES: not empty
  absl::Duration default_timeout = absl::Seconds(60);  // stonith-timeout
  uint64_t seed = 1;                                   // for the pcmk_delay_max random delays
  size_t max_history = 500;                            // finished operations kept
  absl::Duration list_cache_ttl = absl::Seconds(60);   // dynamic-list results reused this long
  absl::Duration retry_pause = absl::Seconds(1);       // between two tries of an agent action
};

struct Now {
  absl::Time monotonic;
  absl::Time wall;
};

// ---- Events ----

struct RequestFence {
  std::string id;  // unique (a UUID); empty: the core makes one
  std::string target;
  FenceAction action = FenceAction::kReboot;
  std::string origin;
  std::string client;
  absl::Duration timeout = absl::ZeroDuration();    // whole operation; zero: computed
  absl::Duration delay = absl::ZeroDuration();      // e.g. priority-fencing-delay for the target
  absl::Duration tolerance = absl::ZeroDuration();  // reuse a success this recent
  bool allow_self = false;                          // may fence the local node
  // Not empty: run exactly these devices, as one step recorded at topology level `level`,
  // whatever the topology says (a part of a level spread over several nodes, fencing_cluster.h).
  std::vector<std::string> devices;
  int level = 0;
  // Fencing a node that was lost (the seed's stonith-helper): once the delays are over, before
  // the first off or reboot, fence only if the target is still not a member (SetMembership),
  // this node still has quorum (when known), and no other operation fenced the target since this
  // one was requested (NoteFenced); otherwise the operation ends without shooting, logged: FAILED
  // when the target came back or quorum was lost, DONE (merged into the other) when it was
  // fenced meanwhile.
  bool only_if_lost = false;
};
struct ConfirmFenced {
  std::string id;
  std::string target;
  std::string origin;
  std::string client;
};
// A RunAgent's result (exactly one per RunAgent, also after CancelRun).
struct AgentFinished {
  int64_t run_id = 0;
  FenceResult result;
};
// Timers are per operation and kind; arming one replaces the pending one of that key.
struct TimerKey {
  enum Kind { kDelay, kRetry, kDeadline };
  std::string op_id;
  Kind kind = kDelay;
  bool operator==(const TimerKey&) const = default;
  bool operator<(const TimerKey& o) const {
    return op_id != o.op_id ? op_id < o.op_id : kind < o.kind;
  }
};
struct TimerFired {
  TimerKey key;
};
// Which of this node's devices can fence `target`: the query phase of an operation (static
// checks, list and status runs) and its plan, without executing anything or recording history.
// Answered by exactly one TargetsAnswer with `id` (which must not name a running operation).
struct QueryTargets {
  std::string id;
  std::string target;
};
// A device's health, from its periodic monitor (the agent's monitor action).
struct DeviceHealth {
  enum State {
    kUnknown,  // not checked yet
    kOk,       // the last monitor succeeded
    kFailed,   // the last monitor failed: the device is tried after the healthy ones
  };
  State state = kUnknown;
  absl::Time last_check = absl::InfinitePast();  // wall clock
  std::string reason;                            // why the last monitor failed
};
const char* DeviceHealthName(DeviceHealth::State state);  // "unknown", "ok", "failed"

// Runs the monitors that are due (each device every monitor_interval, the first at once). The
// driver feeds it periodically (every second).
struct MonitorTick {};
// Runs `device`'s monitor now (or joins the one running); answered by a DeviceChecked.
struct MonitorDevice {
  std::string device;
};

// Ends a running operation at once, FAILED with `reason`: its agent run is cancelled (killed),
// nothing more is tried. Ignored when no such operation runs.
struct CancelOperation {
  std::string id;
  std::string reason;
};
using Event = std::variant<RequestFence,
                           ConfirmFenced,
                           AgentFinished,
                           TimerFired,
                           QueryTargets,
                           CancelOperation,
                           MonitorTick,
                           MonitorDevice>;

// ---- Effects ----

// Run `action` (off, on, reboot, list, status) of `device` against `target` (empty for list),
// killed after `timeout`; reply AgentFinished with `run_id`.
struct RunAgent {
  int64_t run_id = 0;
  std::string op_id;
  FenceDevice device;
  std::string action;
  std::string target;
  absl::Duration timeout = absl::ZeroDuration();
};
struct CancelRun {
  int64_t run_id = 0;
};
struct ArmTimer {
  TimerKey key;
  absl::Duration after = absl::ZeroDuration();
};
struct CancelTimer {
  TimerKey key;
};
// An operation was created or finished (publish, answer the client, record).
struct OperationChanged {
  FenceRecord record;
};
struct LogLine {
  enum Level { kDebug, kInfo, kNotice, kWarning, kError, kCrit };
  Level level = kInfo;
  std::string text;
};
// A QueryTargets' answer: `capable` when a plan exists (a usable topology level, else a capable
// device); `level` is the first usable level's index (0 without topology); `devices` those of the
// plan's first step.
struct TargetsAnswer {
  std::string id;
  std::string target;
  bool capable = false;
  int level = 0;
  std::vector<std::string> devices;
  // Every device of this node that can fence the target (sorted), and the target's topology
  // levels as this node has them (index, devices), whether or not this node holds the devices.
  std::vector<std::string> capable_devices;
  std::vector<std::pair<int, std::vector<std::string>>> levels;
  bool degraded = false;  // a device of the first step failed its last monitor
};
// A monitor finished (or a MonitorDevice named no device: kUnknown, reason "no such device").
struct DeviceChecked {
  std::string device;
  DeviceHealth health;
};
using Effect = std::variant<RunAgent,
                            CancelRun,
                            ArmTimer,
                            CancelTimer,
                            OperationChanged,
                            LogLine,
                            TargetsAnswer,
                            DeviceChecked>;
using Effects = std::vector<Effect>;

class FencingCore {
 public:
  explicit FencingCore(FencingCoreOptions options);

  // Configuration (between events; running operations keep the devices they planned with,
  // except that a removed device fails the step that needs it).
  void RegisterDevice(FenceDevice device);
  bool UnregisterDevice(const std::string& id);
  void SetTopology(FencingTopology topology) { topology_ = std::move(topology); }
  void SetNodeAttributes(NodeAttributes attributes) { node_attributes_ = std::move(attributes); }
  // The nodes that are members now (of this node's partition) and whether it has quorum
  // (nullopt: not known), for only_if_lost requests.
  void SetMembership(std::set<std::string> members, std::optional<bool> quorate) {
    members_ = std::move(members);
    quorate_ = quorate;
  }
  // `target` was fenced (done) by operation `id` at `when` (wall), elsewhere (another node's, or
  // the cluster's, operation), for only_if_lost requests.
  void NoteFenced(const std::string& target, const std::string& id, absl::Time when);
  // stonith-timeout: the action timeout of devices without pcmk_<action>_timeout.
  void SetDefaultTimeout(absl::Duration timeout) { options_.default_timeout = timeout; }
  const std::map<std::string, FenceDevice>& devices() const { return devices_; }
  // Every registered device's health (kUnknown until its first monitor).
  DeviceHealth Health(const std::string& device) const;

  Effects Handle(Event event, Now now);

  // Every running and finished operation, newest first; only those against `target` unless
  // empty.
  std::vector<FenceRecord> History(std::string_view target = "") const;
  size_t running() const;

 private:
  struct SubAction {
    std::string device;
    std::string action;      // off, on, reboot
    bool tolerated = false;  // the "on" of a remapped reboot: its failure does not fail the step
  };
  struct Step {
    int level = 0;
    std::vector<SubAction> subs;
  };
  enum class Phase { kQuerying, kDelaying, kExecuting, kRetryWait };
  struct Operation {
    FenceRecord record;
    RequestFence request;
    Phase phase = Phase::kQuerying;
    std::map<int64_t, std::string> queries;  // run id -> device
    std::set<std::string> capable;
    std::vector<Step> steps;
    size_t step = 0;
    size_t sub = 0;
    bool request_delay_done = false;
    int64_t run_id = 0;  // the running sub-action's run, 0 when none
    int tries = 0;
    absl::Time first_try = absl::InfinitePast();    // monotonic
    absl::Duration timeout = absl::ZeroDuration();  // the sub-action's whole timeout
    std::string last_reason;
    bool on_failed = false;
    std::vector<std::string> merged;                      // request ids merged into this operation
    absl::Duration total_timeout = absl::ZeroDuration();  // the deadline armed at planning
    bool query_only = false;                              // a QueryTargets: answer, no execution
    bool still_checked = false;  // only_if_lost: checked before the first shot
  };
  struct CachedList {
    std::vector<std::string> targets;
    absl::Time at = absl::InfinitePast();
  };
  enum class RunPurpose { kQuery, kExecute, kMonitor };
  struct Monitor {
    DeviceHealth health;
    absl::Time due = absl::InfinitePast();  // monotonic; InfinitePast: at the next tick
    int64_t run_id = 0;                     // the running monitor, 0 when none
  };
  struct RunInfo {
    std::string op_id;
    RunPurpose purpose = RunPurpose::kExecute;
    std::string device;
    std::string action;
  };

  void OnRequest(RequestFence request, Now now, Effects& out);
  void OnConfirm(const ConfirmFenced& confirm, Now now, Effects& out);
  void OnAgentFinished(AgentFinished finished, Now now, Effects& out);
  void OnTimer(const TimerKey& key, Now now, Effects& out);
  void OnQuery(const QueryTargets& query, Now now, Effects& out);
  void StartMonitor(const std::string& id, Effects& out);
  // only_if_lost: whether the operation should still shoot; false when it was ended here.
  bool StillWanted(Operation& op, Now now, Effects& out);
  void OnMonitorResult(const std::string& id, const FenceResult& result, Now now, Effects& out);
  bool Failed(const std::string& device) const;

  void StartQueries(Operation& op, Now now, Effects& out);
  void OnQueryResult(
      Operation& op, const RunInfo& run, const FenceResult& result, Now now, Effects& out);
  void Plan(Operation& op, Now now, Effects& out);
  void StartSub(Operation& op, Now now, Effects& out);
  void RunSub(Operation& op, Now now, Effects& out);
  void OnExecResult(Operation& op, const FenceResult& result, Now now, Effects& out);
  void NextStep(Operation& op, Now now, Effects& out);
  void Finish(Operation& op, FenceState state, std::string reason, Now now, Effects& out);
  absl::Duration DeviceDelay(const FenceDevice& device, std::string_view target);
  absl::Duration TotalTimeout(const Operation& op) const;
  void Record(FenceRecord record);
  std::string Name(const Operation& op) const;

  FencingCoreOptions options_;
  std::mt19937_64 rng_;
  std::map<std::string, FenceDevice> devices_;
  FencingTopology topology_;
  NodeAttributes node_attributes_;
  std::map<std::string, Operation> ops_;  // running operations by id
  std::map<int64_t, RunInfo> runs_;
  std::map<std::string, CachedList> lists_;  // device -> its last list output
  std::map<std::string, Monitor> monitors_;  // by device
  std::set<std::string> members_;
  std::optional<bool> quorate_;
  struct Fenced {
    std::string id;
    absl::Time when = absl::InfinitePast();
  };
  std::map<std::string, Fenced> fenced_;               // by target: the last NoteFenced
  std::map<std::string, FenceRecord> pending_merged_;  // merged requests by id, until done
  std::deque<FenceRecord> history_;                    // finished, oldest first
  int64_t next_run_id_ = 1;
  int64_t next_op_number_ = 1;
};

}  // namespace ha::stonithd
