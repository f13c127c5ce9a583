#include "supervisor/supervisor_core.h"

#include <signal.h>
#include <string.h>
#include <syslog.h>

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/exit_codes.h"

namespace ha::supervisor {
namespace {

// "60s" rather than absl's "1m": log lines quote the configured values, which are in seconds.
std::string HumanDuration(absl::Duration d) {
  if (d >= absl::Seconds(1) && d == absl::Seconds(absl::ToInt64Seconds(d))) {
    return absl::StrFormat("%ds", absl::ToInt64Seconds(d));
  }
  return absl::FormatDuration(d);
}

size_t Index(TimerKind kind) {
  switch (kind) {
    case TimerKind::kBackoff:
      return 0;
    case TimerKind::kStartTimeout:
      return 1;
    case TimerKind::kStopTimeout:
      return 2;
  }
  return 0;
}

}  // namespace

std::string_view DaemonStateName(DaemonState state) {
  switch (state) {
    case DaemonState::kPending:
      return "pending";
    case DaemonState::kStarting:
      return "starting";
    case DaemonState::kRunning:
      return "running";
    case DaemonState::kBackoff:
      return "backoff";
    case DaemonState::kStopping:
      return "stopping";
    case DaemonState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view StackStateName(StackState state) {
  switch (state) {
    case StackState::kStarting:
      return "starting";
    case StackState::kRunning:
      return "running";
    case StackState::kStopping:
      return "stopping";
    case StackState::kFailed:
      return "failed";
    case StackState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view TimerKindName(TimerKind kind) {
  switch (kind) {
    case TimerKind::kBackoff:
      return "backoff";
    case TimerKind::kStartTimeout:
      return "start-timeout";
    case TimerKind::kStopTimeout:
      return "stop-timeout";
  }
  return "unknown";
}

std::string ExitInfo::ToString() const {
  if (!signaled)
    return absl::StrFormat("exit %d", code);
    // sigdescr_np (glibc >= 2.32) is thread-safe and not localized, unlike strsignal.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* description = sigdescr_np(code);
#else
  const char* description = strsignal(code);
#endif
  return absl::StrFormat("signal %d (%s)", code, description ? description : "unknown signal");
}

SupervisorCore::SupervisorCore(std::vector<std::string> daemons, RespawnPolicy policy)
    : policy_(policy) {
  daemons_.reserve(daemons.size());
  for (std::string& name : daemons) {
    daemons_.emplace_back();
    daemons_.back().name = std::move(name);
  }
}

std::vector<Effect> SupervisorCore::Handle(const Event& event, absl::Time now) {
  effects_.clear();
  std::visit([&](const auto& e) { On(e, now); }, event);
  return std::exchange(effects_, {});
}

std::vector<DaemonView> SupervisorCore::Snapshot() const {
  std::vector<DaemonView> views;
  views.reserve(daemons_.size());
  for (const Daemon& d : daemons_) {
    views.push_back(DaemonView{.name = d.name,
                               .state = d.state,
                               .pid = d.pid,
                               .restarts = d.restarts,
                               .last_exit = d.last_exit,
                               .since = d.since});
  }
  return views;
}

// ---- Events ----

void SupervisorCore::On(const StartStack&, absl::Time now) {
  if (started_ || Stopping()) {
    Log(LOG_WARNING,
        absl::StrFormat("ignoring StartStack: the stack is already %s", StackStateName(stack_)));
    return;
  }
  started_ = true;
  for (Daemon& d : daemons_)
    d.since = now;  // pending since the start
  Log(LOG_NOTICE, absl::StrFormat("starting the stack (%d daemons)", daemons_.size()));
  StartNext(now);
}

void SupervisorCore::On(const DaemonSpawned& e, absl::Time now) {
  Daemon* d = Find(e.daemon, "DaemonSpawned");
  if (d == nullptr)
    return;
  if (!d->spawn_pending) {
    Log(LOG_WARNING,
        absl::StrFormat(
            "ignoring DaemonSpawned for %s (pid %d): no spawn was requested", d->name, e.pid));
    return;
  }
  if (e.pid <= 0) {
    // Signalling pid 0 or -1 would hit the whole process group or every process: never keep it.
    On(SpawnFailed{.daemon = e.daemon, .error = absl::StrFormat("invalid pid %d", e.pid)}, now);
    return;
  }
  d->spawn_pending = false;
  d->pid = e.pid;
  Log(LOG_INFO, absl::StrFormat("%s spawned as pid %d", d->name, d->pid));
  switch (d->state) {
    case DaemonState::kStarting:
      if (d->kill_pending)
        Signal(*d, SIGKILL);  // its start timed out before the reply
      break;
    case DaemonState::kStopping:
      // Its turn to stop came before the reply.
      Signal(*d, d->kill_pending ? SIGKILL : SIGTERM);
      break;
    case DaemonState::kPending:
    case DaemonState::kRunning:
    case DaemonState::kBackoff:
    case DaemonState::kStopped:
      // Unreachable (only starting or stopping daemons await a spawn reply); make sure the
      // stray process does not outlive us unnoticed.
      Signal(*d, SIGKILL);
      break;
  }
}

void SupervisorCore::On(const SpawnFailed& e, absl::Time now) {
  Daemon* d = Find(e.daemon, "SpawnFailed");
  if (d == nullptr)
    return;
  if (!d->spawn_pending) {
    Log(LOG_WARNING,
        absl::StrFormat("ignoring SpawnFailed for %s: no spawn was requested", d->name));
    return;
  }
  d->spawn_pending = false;
  d->pid = 0;
  d->last_exit = "spawn failed: " + e.error;
  switch (d->state) {
    case DaemonState::kStarting:
      if (Stopping()) {
        SetState(*d, DaemonState::kStopped, now);
        Log(LOG_WARNING, absl::StrFormat("%s could not be spawned: %s", d->name, e.error));
        StopNext(now);
      } else {
        Fail(*d, absl::StrFormat("could not be spawned (%s)", e.error), /*fatal=*/false, now);
      }
      break;
    case DaemonState::kStopping:
      Cancel(*d, TimerKind::kStopTimeout);
      SetState(*d, DaemonState::kStopped, now);
      Log(LOG_WARNING, absl::StrFormat("%s could not be spawned: %s", d->name, e.error));
      StopNext(now);
      break;
    case DaemonState::kPending:
    case DaemonState::kRunning:
    case DaemonState::kBackoff:
    case DaemonState::kStopped:
      break;  // unreachable: only starting or stopping daemons await a spawn reply
  }
}

void SupervisorCore::On(const DaemonReady& e, absl::Time now) {
  Daemon* d = Find(e.daemon, "DaemonReady");
  if (d == nullptr)
    return;
  // While its spawn is unconfirmed we could not stop it; once killed for a start timeout it is
  // about to exit anyway.
  if (d->state != DaemonState::kStarting || d->spawn_pending || d->kill_pending) {
    Log(LOG_DEBUG,
        absl::StrFormat("ignoring DaemonReady for %s (%s)", d->name, DaemonStateName(d->state)));
    return;
  }
  Cancel(*d, TimerKind::kStartTimeout);
  SetState(*d, DaemonState::kRunning, now);
  Log(LOG_INFO, absl::StrFormat("%s (pid %d) is ready", d->name, d->pid));
  if (!Stopping())
    StartNext(now);
}

void SupervisorCore::On(const DaemonExited& e, absl::Time now) {
  Daemon* d = Find(e.daemon, "DaemonExited");
  if (d == nullptr)
    return;
  if (e.pid <= 0 || e.pid != d->pid) {
    Log(LOG_DEBUG,
        absl::StrFormat("ignoring the exit of %s pid %d: not its current pid", d->name, e.pid));
    return;
  }
  d->pid = 0;
  d->last_exit = e.exit.ToString();
  switch (d->state) {
    case DaemonState::kStarting:
    case DaemonState::kRunning: {
      if (Stopping()) {  // not its turn yet, but gone: nothing left to stop
        Cancel(*d, TimerKind::kStartTimeout);
        SetState(*d, DaemonState::kStopped, now);
        Log(LOG_WARNING, absl::StrFormat("%s exited while stopping (%s)", d->name, d->last_exit));
        StopNext(now);
        break;
      }
      const bool fatal = !e.exit.signaled && (e.exit.code == ToInt(ExitCode::kFatal) ||
                                              e.exit.code == ToInt(ExitCode::kConfig));
      std::string what = absl::StrFormat("exited (%s)", d->last_exit);
      if (d->kill_pending)
        what += " after its start timeout";
      if (e.exit.code == ToInt(ExitCode::kFatal))
        what += ": fatal error";
      if (e.exit.code == ToInt(ExitCode::kConfig))
        what += ": configuration error";
      Fail(*d, what, fatal, now);
      break;
    }
    case DaemonState::kStopping:
      Cancel(*d, TimerKind::kStopTimeout);
      SetState(*d, DaemonState::kStopped, now);
      Log(LOG_INFO, absl::StrFormat("%s stopped (%s)", d->name, d->last_exit));
      StopNext(now);
      break;
    case DaemonState::kPending:
    case DaemonState::kBackoff:
    case DaemonState::kStopped:
      break;  // unreachable: these have no pid
  }
}

void SupervisorCore::On(const TimerFired& e, absl::Time now) {
  Daemon* d = Find(e.key.daemon, "TimerFired");
  if (d == nullptr)
    return;
  bool& armed = d->armed[Index(e.key.kind)];
  if (!armed) {  // cancelled or replaced; the driver's report crossed our CancelTimer
    Log(LOG_DEBUG,
        absl::StrFormat("ignoring stale %s timer of %s", TimerKindName(e.key.kind), d->name));
    return;
  }
  armed = false;
  switch (e.key.kind) {
    case TimerKind::kBackoff:
      if (d->state != DaemonState::kBackoff || Stopping())
        return;
      // Respawned now if every daemon before it runs, else when they do (it depends on them).
      SetState(*d, DaemonState::kPending, now);
      StartNext(now);
      break;
    case TimerKind::kStartTimeout:
      if (d->state != DaemonState::kStarting)
        return;
      d->kill_pending = true;
      Log(LOG_ERR,
          absl::StrFormat("%s did not report ready within %s: killing it",
                          d->name,
                          HumanDuration(policy_.start_timeout)));
      if (d->pid > 0)
        Signal(*d, SIGKILL);  // its exit then counts as a failure
      break;
    case TimerKind::kStopTimeout:
      if (d->state != DaemonState::kStopping)
        return;
      d->kill_pending = true;
      Log(LOG_WARNING,
          absl::StrFormat("%s did not stop within %s: killing it",
                          d->name,
                          HumanDuration(policy_.stop_timeout)));
      if (d->pid > 0)
        Signal(*d, SIGKILL);
      break;
  }
}

void SupervisorCore::On(const StopStack& e, absl::Time now) {
  BeginStop(/*failed=*/false, e.reason, now);
}

// ---- Transitions ----

void SupervisorCore::StartNext(absl::Time now) {
  for (Daemon& d : daemons_) {
    if (d.state == DaemonState::kRunning)
      continue;
    if (d.state == DaemonState::kPending)
      Spawn(d, now);
    return;  // the first daemon not running holds back every one after it
  }
  if (stack_ == StackState::kStarting) {
    stack_ = StackState::kRunning;
    Log(LOG_NOTICE, absl::StrFormat("the stack is running (%d daemons)", daemons_.size()));
  }
}

void SupervisorCore::Spawn(Daemon& d, absl::Time now) {
  if (d.ever_spawned) {
    ++d.restarts;
    d.respawns.push_back(now);
    Log(LOG_NOTICE, absl::StrFormat("respawning %s (restart %d)", d.name, d.restarts));
  } else {
    Log(LOG_INFO, absl::StrFormat("starting %s", d.name));
  }
  d.ever_spawned = true;
  d.spawn_pending = true;
  d.kill_pending = false;
  d.pid = 0;
  SetState(d, DaemonState::kStarting, now);
  effects_.push_back(SpawnDaemon{.daemon = d.name});
  Arm(d, TimerKind::kStartTimeout, policy_.start_timeout);
}

void SupervisorCore::Fail(Daemon& d, const std::string& what, bool fatal, absl::Time now) {
  Cancel(d, TimerKind::kStartTimeout);
  d.kill_pending = false;
  if (fatal) {
    SetState(d, DaemonState::kStopped, now);
    Log(LOG_ERR,
        absl::StrFormat("%s %s: respawning cannot help, stopping the stack", d.name, what));
    BeginStop(/*failed=*/true, absl::StrFormat("%s failed", d.name), now);
    return;
  }
  // Respawns that happened at least `window` ago no longer count.
  while (!d.respawns.empty() && d.respawns.front() <= now - policy_.window) {
    d.respawns.pop_front();
  }
  const int recent = static_cast<int>(d.respawns.size());
  if (recent >= policy_.limit) {
    SetState(d, DaemonState::kStopped, now);
    Log(LOG_ERR, absl::StrFormat("%s %s", d.name, what));
    Log(LOG_ERR,
        absl::StrFormat("%s exceeded its respawn limit (%d in %s): stopping the stack",
                        d.name,
                        policy_.limit,
                        HumanDuration(policy_.window)));
    BeginStop(/*failed=*/true, absl::StrFormat("%s exceeded its respawn limit", d.name), now);
    return;
  }
  // initial * 2^recent, capped; doubling stops at the cap so it cannot overflow.
  absl::Duration backoff = policy_.backoff_initial;
  for (int i = 0; i < recent && backoff < policy_.backoff_max; ++i)
    backoff *= 2;
  backoff = std::min(backoff, policy_.backoff_max);
  SetState(d, DaemonState::kBackoff, now);
  Arm(d, TimerKind::kBackoff, backoff);
  Log(LOG_WARNING,
      absl::StrFormat("%s %s: respawning it in %s", d.name, what, HumanDuration(backoff)));
}

void SupervisorCore::BeginStop(bool failed, const std::string& reason, absl::Time now) {
  if (Stopping()) {
    Log(LOG_INFO,
        absl::StrFormat("ignoring the request to stop (%s): the stack is already %s",
                        reason,
                        StackStateName(stack_)));
    return;
  }
  stack_ = StackState::kStopping;
  final_ = failed ? StackState::kFailed : StackState::kStopped;
  Log(LOG_NOTICE, absl::StrFormat("stopping the stack: %s", reason));
  for (Daemon& d : daemons_) {
    switch (d.state) {
      case DaemonState::kPending:
        SetState(d, DaemonState::kStopped, now);
        break;
      case DaemonState::kBackoff:
        Cancel(d, TimerKind::kBackoff);
        SetState(d, DaemonState::kStopped, now);
        break;
      case DaemonState::kStarting:
        // It gets SIGTERM in its turn, then the stop timeout: readiness no longer matters.
        Cancel(d, TimerKind::kStartTimeout);
        d.kill_pending = false;
        break;
      case DaemonState::kRunning:
      case DaemonState::kStopping:
      case DaemonState::kStopped:
        break;
    }
  }
  StopNext(now);
}

void SupervisorCore::StopNext(absl::Time now) {
  for (const Daemon& d : daemons_) {
    if (d.state == DaemonState::kStopping)
      return;  // strictly one at a time
  }
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
    Daemon& d = *it;
    if (d.state != DaemonState::kStarting && d.state != DaemonState::kRunning)
      continue;
    if (d.pid <= 0 && !d.spawn_pending) {  // nothing to signal, nothing to wait for
      SetState(d, DaemonState::kStopped, now);
      continue;
    }
    SetState(d, DaemonState::kStopping, now);
    d.kill_pending = false;
    Log(LOG_INFO, absl::StrFormat("stopping %s (pid %d)", d.name, d.pid));
    if (d.pid > 0)
      Signal(d, SIGTERM);  // else on DaemonSpawned
    Arm(d, TimerKind::kStopTimeout, policy_.stop_timeout);
    return;
  }
  if (finished_)
    return;
  finished_ = true;
  stack_ = final_;
  const int exit_code = final_ == StackState::kFailed ? ToInt(ExitCode::kFatal) : 0;
  Log(final_ == StackState::kFailed ? LOG_ERR : LOG_NOTICE,
      absl::StrFormat("the stack is %s", StackStateName(final_)));
  effects_.push_back(StackFinished{.final_state = final_, .exit_code = exit_code});
}

// ---- Helpers ----

bool SupervisorCore::Stopping() const {
  return stack_ == StackState::kStopping || stack_ == StackState::kFailed ||
         stack_ == StackState::kStopped;
}

SupervisorCore::Daemon* SupervisorCore::Find(const std::string& name, std::string_view event) {
  for (Daemon& d : daemons_) {
    if (d.name == name)
      return &d;
  }
  Log(LOG_WARNING, absl::StrFormat("ignoring %s for unknown daemon '%s'", event, name));
  return nullptr;
}

void SupervisorCore::SetState(Daemon& d, DaemonState state, absl::Time now) {
  if (d.state == state)
    return;
  d.state = state;
  d.since = now;
}

void SupervisorCore::Arm(Daemon& d, TimerKind kind, absl::Duration after) {
  d.armed[Index(kind)] = true;
  effects_.push_back(ArmTimer{.key = TimerKey{.daemon = d.name, .kind = kind}, .after = after});
}

void SupervisorCore::Cancel(Daemon& d, TimerKind kind) {
  bool& armed = d.armed[Index(kind)];
  if (!armed)
    return;
  armed = false;
  effects_.push_back(CancelTimer{.key = TimerKey{.daemon = d.name, .kind = kind}});
}

void SupervisorCore::Signal(Daemon& d, int signal) {
  if (d.pid <= 0)
    return;  // never kill(0) or kill(-1)
  effects_.push_back(SignalDaemon{.daemon = d.name, .pid = d.pid, .signal = signal});
}

void SupervisorCore::Log(int priority, std::string text) {
  effects_.push_back(LogMessage{.priority = priority, .text = std::move(text)});
}

}  // namespace ha::supervisor
