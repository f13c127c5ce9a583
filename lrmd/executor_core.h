// lrmd's executor core (like Pacemaker's execd scheduling), as a pure state machine.
//
// The driver (the process runner, timers, gRPC) feeds it events and applies the effects it
// returns, in order. The core does no I/O, reads no clock and keeps no globals, so every decision
// is deterministic and testable by feeding events. It does not time actions either: the runner
// kills an agent after the request's timeout and reports kTimedOut.
//
// What it decides:
// - Operations on one resource run one at a time, in arrival order (FIFO per resource); across
//   resources they run in parallel, at most `max_parallel` at once, waiting ones starting in
//   arrival order as slots free.
// - A recurring operation (interval > 0, normally a monitor) runs at once (queued like any other),
//   then again `interval` after each run finished. Its result is reported at the first run
//   (`changed`) and then only when it differs from the previous run's (status, or exit code when
//   the status is kDone). It is identified by (resource, action, interval): a new Exec with the
//   same key replaces (cancels) the old one.
// - A one-shot operation's result is always reported, once.
// - Cancel removes a queued or scheduled operation at once, or kills a running one (CancelRun);
//   either way exactly one kCancelled result is reported for it, and nothing after that.
// - A stop first cancels every recurring operation of its resource, then is queued.
// - History: per resource, the last result of each (action, interval) and the last failure.
//
// Operation states (OpState), per call:
//
//   Exec -> kQueued -(its resource idle, a slot free)-> kRunning -(AgentFinished)-> gone, reported
//             ^                                           |   |                       (one-shot)
//             | TimerFired                   (recurring)  |   |
//             +-------- kScheduled <---- AgentFinished ---+   | Cancel, stop, replace,
//                                                             v unregister: CancelRun
//                                                        kCancelling -(AgentFinished)-> gone,
//                                                                                 kCancelled
//   kQueued or kScheduled -(Cancel, stop, replace, unregister)-> gone, kCancelled reported
//   kRunning -(AgentFinished with kCancelled: the runner's own cancellation)-> gone, kCancelled
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "lrmd/action.h"

namespace ha::lrmd {

std::string_view OcfExitCodeName(OcfExitCode code);  // "ok", "not running", "error", ...
std::string_view ExecStatusName(ExecStatus status);  // "done", "cancelled", "timed out", ...

// Whether `result` counts as a failure (kept as a resource's last failure): it did not complete
// (timed out, not supported, not installed, could not run), or the agent's exit code is not an
// expected one: kOk, and for a monitor (probe or recurring) also kNotRunning and kRunningPromoted.
// kPending and kCancelled are not failures: nothing failed, the operation just did not finish.
bool IsFailure(const ActionResult& result);

// An operation's state (see the diagram above).
enum class OpState {
  kQueued,      // waiting for its resource (FIFO) or for a free slot (max_parallel)
  kRunning,     // RunAgent emitted, no AgentFinished yet
  kScheduled,   // recurring, between runs: its timer is armed
  kCancelling,  // running, CancelRun emitted: kCancelled is reported when it finishes
};
std::string_view OpStateName(OpState state);  // "queued", "running", "scheduled", "cancelling"

// A recurring operation's timer: one per call, armed only while the operation is kScheduled.
// Arming a key replaces the pending timer with that key.
struct TimerKey {
  int64_t call_id = 0;
  bool operator==(const TimerKey&) const = default;
};

// An (action, interval) of one resource: what a recurring operation and a history entry are
// identified by.
struct ActionKey {
  std::string action;
  absl::Duration interval = absl::ZeroDuration();
  bool operator==(const ActionKey&) const = default;
  bool operator<(const ActionKey& other) const;
};

// ---- Events (fed by the driver) ----

// Run `request`. The core assigns it a call id (CallAssigned, always the first effect).
struct Exec {
  ActionRequest request;
};
// Cancel the operations (resource, action, interval): one recurring operation, or the queued or
// running one-shot ones with that key.
struct Cancel {
  std::string resource_id;
  std::string action;
  absl::Duration interval = absl::ZeroDuration();
};
// A RunAgent's process ended (or could not be run): the runner's report, exit code already mapped.
// Exactly one per RunAgent, also after a CancelRun (then normally with kCancelled). A kCancelled
// status for a run nobody cancelled (the driver killed it, say at shutdown) ends the operation,
// recurring or not: it is reported kCancelled and not run again.
struct AgentFinished {
  int64_t run_id = 0;
  ExecStatus status = ExecStatus::kDone;
  OcfExitCode exit_code = OcfExitCode::kOk;  // meaningful when status == kDone
  int raw_exit_code = 0;
  std::string exit_reason;
  std::string stdout_tail;
  std::string stderr_tail;
  absl::Time started = absl::InfinitePast();  // wall clock
  absl::Duration duration = absl::ZeroDuration();
};
struct TimerFired {
  TimerKey key;
};
// Forget a resource: its queued and scheduled operations are cancelled (reported kCancelled), its
// running one is killed (CancelRun, kCancelled when it finishes), and its history is dropped at
// once. It is no longer listed by Resources(); a new Exec registers it again (fresh history), and
// that operation waits for the killed run to finish, as on any resource.
struct UnregisterResource {
  std::string resource_id;
};
using Event = std::variant<Exec, Cancel, AgentFinished, TimerFired, UnregisterResource>;

// ---- Effects (applied by the driver, in order) ----

// The call id of the Exec being handled: the first effect of every Exec, valid or not.
struct CallAssigned {
  int64_t call_id = 0;
  bool operator==(const CallAssigned&) const = default;
};
// Run the agent for `request` (an operation of call `call_id`); the driver replies AgentFinished
// with `run_id`. Never while another run of the same resource is live.
struct RunAgent {
  int64_t run_id = 0;
  int64_t call_id = 0;
  ActionRequest request;
};
// Kill the agent of `run_id` (a live run); the driver still replies AgentFinished for it.
struct CancelRun {
  int64_t run_id = 0;
  bool operator==(const CancelRun&) const = default;
};
struct ArmTimer {
  TimerKey key;
  absl::Duration after;
  bool operator==(const ArmTimer&) const = default;
};
struct CancelTimer {
  TimerKey key;
  bool operator==(const CancelTimer&) const = default;
};
// A result for the clients (who registered for them). `result.changed` is set on every report of
// a recurring operation (its kCancelled included: a change too), never on a one-shot's. A
// kCancelled report carries the killed run's started/duration/output, or nothing if it never ran.
struct Report {
  ActionResult result;
};
struct LogMessage {
  int priority;  // syslog LOG_*
  std::string text;
  bool operator==(const LogMessage&) const = default;
};
using Effect =
    std::variant<CallAssigned, RunAgent, CancelRun, ArmTimer, CancelTimer, Report, LogMessage>;

// ---- Queries ----

struct ResourceHistory {
  std::string resource_id;
  // The last result of each (action, interval) that ran to completion, reported or not (an
  // unchanged recurring result is kept here too). Runs cancelled by a client are not recorded,
  // and cancelling a recurring operation removes its entry.
  std::map<ActionKey, ActionResult> last;
  std::optional<ActionResult> last_failure;  // the last result with IsFailure()
};

struct OpView {
  int64_t call_id;
  std::string resource_id;
  std::string action;
  absl::Duration interval;
  OpState state;
  int64_t run_id;    // the live run when kRunning or kCancelling, else 0
  absl::Time since;  // when it entered `state`
};

struct ExecutorOptions {
  int max_parallel = 16;  // runs at once across resources; values < 1 count as 1
};

class ExecutorCore {
 public:
  explicit ExecutorCore(ExecutorOptions options = {});

  // Any event is accepted in any order; those that make no sense now (stale run ids or timers,
  // unknown operations or resources) are ignored with a log message. `now` (monotonic time as
  // absl::Time, never going backwards) only stamps OpView::since.
  std::vector<Effect> Handle(const Event& event, absl::Time now);

  // Registered resources, sorted.
  std::vector<std::string> Resources() const;
  // nullopt if `resource_id` is not registered.
  std::optional<ResourceHistory> History(const std::string& resource_id) const;
  // Every operation not finished (queued, running, scheduled, cancelling), by call id.
  std::vector<OpView> Operations() const;
  int running() const { return static_cast<int>(runs_.size()); }  // live runs
  int max_parallel() const { return max_parallel_; }

 private:
  struct Op {
    int64_t call_id = 0;
    ActionRequest request;
    OpState state = OpState::kQueued;
    int64_t run_id = 0;  // kRunning / kCancelling
    uint64_t seq = 0;    // arrival order, set each time it is queued
    absl::Time since;
    bool ran = false;  // recurring: a previous run finished (last_* are set)
    ExecStatus last_status = ExecStatus::kPending;
    OcfExitCode last_exit = OcfExitCode::kOk;
  };
  struct Resource {
    bool registered = true;     // false: unregistered, kept only until its live run ends
    std::deque<int64_t> queue;  // call ids of its kQueued operations, in arrival order
    int64_t running = 0;        // call id of the operation whose run is live, 0 if none
    std::map<ActionKey, ActionResult> last;
    std::optional<ActionResult> last_failure;
  };

  void On(const Exec& e, absl::Time now);
  void On(const Cancel& e, absl::Time now);
  void On(const AgentFinished& e, absl::Time now);
  void On(const TimerFired& e, absl::Time now);
  void On(const UnregisterResource& e, absl::Time now);

  // Cancels `op` as a client asked (`why`): reports kCancelled at once unless it is running, in
  // which case the run is killed and kCancelled is reported when it finishes.
  void CancelOp(Op& op, std::string_view why, absl::Time now);
  void Enqueue(Op& op, absl::Time now);
  // Starts queued operations, oldest first, while slots are free.
  void StartReady(absl::Time now);
  // Drops `op` (not live) and its resource if that was unregistered and is now idle.
  void Erase(Op& op);
  void Record(Resource& r, const ActionResult& result);

  static ActionResult BaseResult(const Op& op);
  static std::string Describe(const Op& op);  // "r1 monitor 10s (call 3)"
  void Emit(Effect effect) { effects_.push_back(std::move(effect)); }
  void Log(int priority, std::string text);

  int max_parallel_;
  int64_t next_call_id_ = 1;
  int64_t next_run_id_ = 1;
  uint64_t next_seq_ = 1;
  std::map<std::string, Resource> resources_;
  std::map<int64_t, Op> ops_;        // unfinished operations by call id
  std::map<int64_t, int64_t> runs_;  // live runs: run id -> call id
  std::vector<Effect> effects_;      // of the event being handled
};

}  // namespace ha::lrmd
