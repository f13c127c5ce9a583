// The supervisor's decision core (like pacemakerd's child handling), as a pure state machine.
//
// The driver (fork/exec, signals, timers, gRPC) feeds it events and applies the effects it returns,
// in order. The core does no I/O, reads no clock and keeps no globals: time comes in with each
// event, so every decision is deterministic and testable by feeding events.
//
// It starts the node's daemons strictly in dependency order (each one only once every daemon before
// it has reported ready), respawns one that dies with a limit and an exponential back-off, and
// stops the running ones one at a time in reverse start order, on request or when a daemon cannot
// be kept running (fatal exit code, respawn limit).
#pragma once

#include <array>
#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"

namespace ha::supervisor {

// Mirrors ha.supervisor.DaemonState in proto/supervisor.proto; the driver maps them.
enum class DaemonState {
  kPending,   // Not started yet: waits for every daemon before it to be running.
  kStarting,  // Spawn requested or done; waiting for it to report ready (start timeout armed).
  kRunning,   // Reported ready, and has not exited since.
  kBackoff,   // Exited unexpectedly; waiting out the back-off before it is respawned.
  kStopping,  // Being stopped: SIGTERM sent (or to be sent once its spawn is confirmed).
  kStopped,   // Not running, and not to be started again.
};

// Mirrors ha.supervisor.StackState.
enum class StackState {
  kStarting,  // Before StartStack, and until every daemon has reported ready once.
  kRunning,   // Every daemon reported ready once; stays so while one of them is respawned.
  kStopping,  // Stopping the daemons in reverse order (to end kStopped or kFailed).
  kFailed,    // Final: stopped because a daemon could not be kept running.
  kStopped,   // Final: stopped on request.
};

std::string_view DaemonStateName(DaemonState state);  // "pending", "starting", ...
std::string_view StackStateName(StackState state);    // "starting", "running", ...

struct ExitInfo {
  bool signaled = false;  // killed by a signal rather than exited
  int code = 0;           // exit status, or the signal number when `signaled`
  // "exit 1", "signal 9 (Killed)".
  std::string ToString() const;
  bool operator==(const ExitInfo&) const = default;
};

struct RespawnPolicy {
  int limit = 5;  // respawns allowed within `window`; one more failure stops the stack
  absl::Duration window = absl::Seconds(60);
  absl::Duration backoff_initial = absl::Milliseconds(200);  // doubled per respawn in the window
  absl::Duration backoff_max = absl::Seconds(5);
  absl::Duration start_timeout = absl::Seconds(30);  // spawn to ready; then SIGKILL, a failure
  absl::Duration stop_timeout = absl::Seconds(10);   // SIGTERM to exit; then SIGKILL
};

// Timers are identified by daemon name + kind; arming a key replaces the pending timer with that
// key.
enum class TimerKind { kBackoff, kStartTimeout, kStopTimeout };
std::string_view TimerKindName(TimerKind kind);  // "backoff", "start-timeout", "stop-timeout"

struct TimerKey {
  std::string daemon;
  TimerKind kind;
  bool operator==(const TimerKey&) const = default;
};

// Events (fed by the driver).
struct StartStack {};
struct DaemonSpawned {  // reply to a SpawnDaemon effect
  std::string daemon;
  int pid;
};
struct SpawnFailed {  // fork/exec failed; also a reply to SpawnDaemon
  std::string daemon;
  std::string error;
};
struct DaemonReady {  // it reported ready on its ready pipe
  std::string daemon;
};
struct DaemonExited {
  std::string daemon;
  int pid;
  ExitInfo exit;
};
struct TimerFired {
  TimerKey key;
};
struct StopStack {  // SIGTERM or the Shutdown RPC
  std::string reason;
};
using Event = std::variant<StartStack,
                           DaemonSpawned,
                           SpawnFailed,
                           DaemonReady,
                           DaemonExited,
                           TimerFired,
                           StopStack>;

// Effects (applied by the driver, in order).
struct SpawnDaemon {  // the driver replies DaemonSpawned or SpawnFailed
  std::string daemon;
  bool operator==(const SpawnDaemon&) const = default;
};
struct SignalDaemon {  // SIGTERM / SIGKILL; `pid` is always > 0
  std::string daemon;
  int pid;
  int signal;
  bool operator==(const SignalDaemon&) const = default;
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
struct LogMessage {
  int priority;  // syslog LOG_*
  std::string text;
  bool operator==(const LogMessage&) const = default;
};
struct StackFinished {  // kStopped -> 0, kFailed -> 100; the driver exits with `exit_code`
  StackState final_state;
  int exit_code;
  bool operator==(const StackFinished&) const = default;
};
using Effect =
    std::variant<SpawnDaemon, SignalDaemon, ArmTimer, CancelTimer, LogMessage, StackFinished>;

struct DaemonView {
  std::string name;
  DaemonState state;
  int pid;                // 0 when not running (or its spawn is not confirmed yet)
  int restarts;           // respawns since the supervisor started
  std::string last_exit;  // ExitInfo::ToString(), "spawn failed: ...", "" if it never exited
  absl::Time since;       // when it entered `state`; InfinitePast() before the first event
};

class SupervisorCore {
 public:
  // `daemons` in start order (dependency order); stop order is the reverse.
  // REQUIRES: the names are unique (events name daemons).
  SupervisorCore(std::vector<std::string> daemons, RespawnPolicy policy);

  // REQUIRES: `now` never goes backwards between calls (monotonic time as absl::Time).
  // Any event is accepted in any order; those that make no sense now are ignored (and logged).
  std::vector<Effect> Handle(const Event& event, absl::Time now);

  StackState stack_state() const { return stack_; }
  std::vector<DaemonView> Snapshot() const;  // in start order

 private:
  struct Daemon {
    std::string name;
    DaemonState state = DaemonState::kPending;
    int pid = 0;
    bool spawn_pending = false;  // SpawnDaemon emitted, no DaemonSpawned/SpawnFailed yet
    bool kill_pending = false;   // a timeout asked for SIGKILL; sent now, or once the pid is known
    bool ever_spawned = false;   // so the next spawn is a respawn
    int restarts = 0;
    std::string last_exit;
    absl::Time since = absl::InfinitePast();
    std::deque<absl::Time> respawns;  // respawn times, oldest first, pruned to the window
    std::array<bool, 3> armed{};      // per TimerKind: armed and neither fired nor cancelled
  };

  void On(const StartStack& e, absl::Time now);
  void On(const DaemonSpawned& e, absl::Time now);
  void On(const SpawnFailed& e, absl::Time now);
  void On(const DaemonReady& e, absl::Time now);
  void On(const DaemonExited& e, absl::Time now);
  void On(const TimerFired& e, absl::Time now);
  void On(const StopStack& e, absl::Time now);

  // Spawns the first daemon that is not running if it is pending; marks the stack running once all
  // are.
  void StartNext(absl::Time now);
  void Spawn(Daemon& d, absl::Time now);
  // `d` (starting or running) is gone: respawn it after a back-off, or stop the stack.
  void Fail(Daemon& d, const std::string& what, bool fatal, absl::Time now);
  void BeginStop(bool failed, const std::string& reason, absl::Time now);
  // Stops the last daemon still starting or running, unless one is being stopped; finishes the
  // stack when none is left.
  void StopNext(absl::Time now);

  bool Stopping() const;  // stopping began (the stack may have finished since)
  Daemon* Find(const std::string& name, std::string_view event);
  void SetState(Daemon& d, DaemonState state, absl::Time now);
  void Arm(Daemon& d, TimerKind kind, absl::Duration after);
  void Cancel(Daemon& d, TimerKind kind);
  void Signal(Daemon& d, int signal);
  void Log(int priority, std::string text);

  std::vector<Daemon> daemons_;
  RespawnPolicy policy_;
  StackState stack_ = StackState::kStarting;
  StackState final_ = StackState::kStopped;  // where kStopping ends
  bool started_ = false;                     // StartStack seen
  bool finished_ = false;                    // StackFinished emitted
  std::vector<Effect> effects_;              // of the event being handled
};

}  // namespace ha::supervisor
