#include "supervisor/supervisor_core.h"

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/seeded_runs.h"

namespace ha::supervisor {
namespace {

using Strings = std::vector<std::string>;

const Strings kDaemons = {"membershipd", "cibd", "stonithd", "lrmd", "pengine", "crmd"};

// One line per effect, so that a failed comparison prints readably.
struct Describer {
  std::string operator()(const SpawnDaemon& e) const { return "spawn " + e.daemon; }
  std::string operator()(const SignalDaemon& e) const {
    const char* name = e.signal == SIGTERM ? "TERM" : e.signal == SIGKILL ? "KILL" : "?";
    return absl::StrFormat("signal %s %d %s", e.daemon, e.pid, name);
  }
  std::string operator()(const ArmTimer& e) const {
    return absl::StrFormat(
        "arm %s %s %s", e.key.daemon, TimerKindName(e.key.kind), absl::FormatDuration(e.after));
  }
  std::string operator()(const CancelTimer& e) const {
    return absl::StrFormat("cancel %s %s", e.key.daemon, TimerKindName(e.key.kind));
  }
  std::string operator()(const LogMessage& e) const { return "log " + e.text; }
  std::string operator()(const StackFinished& e) const {
    return absl::StrFormat("finished %s %d", StackStateName(e.final_state), e.exit_code);
  }
};

std::string Describe(const Effect& effect) {
  return std::visit(Describer{}, effect);
}

ExitInfo Exit(int code) {
  return ExitInfo{.signaled = false, .code = code};
}
ExitInfo Killed(int signal) {
  return ExitInfo{.signaled = true, .code = signal};
}

// The default policy with another limit and window.
RespawnPolicy Policy(int limit, absl::Duration window = absl::Seconds(60)) {
  RespawnPolicy policy;
  policy.limit = limit;
  policy.window = window;
  return policy;
}

// Drives a core by hand: each call feeds one event and returns its actions, the effects other
// than log messages (kept aside in logs_).
class Fixture {
 public:
  explicit Fixture(RespawnPolicy policy = {}, Strings daemons = kDaemons)
      : core_(daemons, policy), names_(std::move(daemons)) {}

  Strings Feed(const Event& event) {
    Strings actions;
    for (const Effect& e : core_.Handle(event, now_)) {
      if (const auto* log = std::get_if<LogMessage>(&e)) {
        logs_.push_back(log->text);
      } else {
        finished_ += std::holds_alternative<StackFinished>(e) ? 1 : 0;
        actions.push_back(Describe(e));
      }
    }
    return actions;
  }
  Strings Start() { return Feed(StartStack{}); }
  Strings Spawned(const std::string& d) { return Feed(DaemonSpawned{d, ++pid_}); }
  Strings Ready(const std::string& d) { return Feed(DaemonReady{d}); }
  Strings Exited(const std::string& d, ExitInfo exit) {
    return Feed(DaemonExited{d, Pid(d), exit});
  }
  Strings Fire(const std::string& d, TimerKind kind) { return Feed(TimerFired{TimerKey{d, kind}}); }
  Strings Stop() { return Feed(StopStack{"SIGTERM"}); }

  // Starts every daemon, each spawned and ready in turn.
  void StartAll() {
    Start();
    for (const std::string& d : names_) {
      Spawned(d);
      Ready(d);
    }
    REQUIRE(core_.stack_state() == StackState::kRunning);
  }
  // A crash of `d` (exit 1), its back-off, its respawn and its readiness.
  void CrashAndRespawn(const std::string& d) {
    REQUIRE(Exited(d, Exit(1)).size() == 1);  // arm its back-off
    REQUIRE(Fire(d, TimerKind::kBackoff).size() == 2);
    Spawned(d);
    Ready(d);
  }
  // Lets each daemon of `order`, the first one being stopped, exit in turn: each exit must stop
  // the next one, and the last must finish the stack with `finished`.
  void ExpectStopOrder(const Strings& order, const std::string& finished) {
    for (size_t i = 0; i < order.size(); ++i) {
      Strings expected = {"cancel " + order[i] + " stop-timeout"};
      if (i + 1 < order.size()) {
        expected.push_back(Term(order[i + 1]));
        expected.push_back("arm " + order[i + 1] + " stop-timeout 10s");
      } else {
        expected.push_back(finished);
      }
      CHECK(Exited(order[i], Killed(SIGTERM)) == expected);
    }
    CHECK(finished_ == 1);
  }

  DaemonView View(const std::string& d) const {
    for (const DaemonView& v : core_.Snapshot()) {
      if (v.name == d)
        return v;
    }
    FAIL("no daemon " << d);
    return {};
  }
  DaemonState State(const std::string& d) const { return View(d).state; }
  int Pid(const std::string& d) const { return View(d).pid; }
  // The actions signalling `d`'s current pid: "signal crmd 106 TERM".
  std::string Term(const std::string& d) const {
    return Describe(SignalDaemon{d, Pid(d), SIGTERM});
  }
  std::string KillSig(const std::string& d) const {
    return Describe(SignalDaemon{d, Pid(d), SIGKILL});
  }
  Strings StopsFirst(const std::string& d) const {
    return {Term(d), "arm " + d + " stop-timeout 10s"};
  }
  bool Logged(const std::string& text) const {
    return std::any_of(logs_.begin(), logs_.end(), [&](const std::string& l) {
      return l.find(text) != std::string::npos;
    });
  }

  SupervisorCore core_;
  Strings names_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  int pid_ = 100;
  int finished_ = 0;
  Strings logs_;
};

TEST_CASE("ExitInfo describes exits and signals") {
  CHECK(Exit(1).ToString() == "exit 1");
  CHECK(Killed(9).ToString() == "signal 9 (Killed)");
  CHECK(Killed(15).ToString() == "signal 15 (Terminated)");
}

TEST_CASE("daemons start strictly in order, each after its predecessor is ready") {
  Fixture f;
  CHECK(f.core_.stack_state() == StackState::kStarting);
  CHECK(f.Start() == Strings{"spawn membershipd", "arm membershipd start-timeout 30s"});
  CHECK(f.State("cibd") == DaemonState::kPending);
  CHECK(f.Spawned("membershipd").empty());  // spawned is not ready: cibd still waits
  CHECK(f.Ready("cibd").empty());           // ignored: cibd is not starting
  CHECK(f.State("membershipd") == DaemonState::kStarting);
  for (size_t i = 0; i < kDaemons.size(); ++i) {
    CHECK(f.core_.stack_state() == StackState::kStarting);
    if (i > 0)
      CHECK(f.Spawned(kDaemons[i]).empty());
    Strings expected = {"cancel " + kDaemons[i] + " start-timeout"};
    if (i + 1 < kDaemons.size()) {
      expected.push_back("spawn " + kDaemons[i + 1]);
      expected.push_back("arm " + kDaemons[i + 1] + " start-timeout 30s");
    }
    CHECK(f.Ready(kDaemons[i]) == expected);
    CHECK(f.State(kDaemons[i]) == DaemonState::kRunning);
  }
  CHECK(f.core_.stack_state() == StackState::kRunning);
  CHECK(f.Logged("the stack is running (6 daemons)"));
  CHECK(f.Ready("cibd").empty());  // a second Ready changes nothing
  CHECK(f.Start().empty());        // nor does a second StartStack
}

TEST_CASE("a killed daemon alone is respawned after its back-off") {
  Fixture f;
  f.StartAll();
  const std::vector<DaemonView> before = f.core_.Snapshot();
  f.now_ += absl::Seconds(5);
  CHECK(f.Exited("cibd", Killed(9)) == Strings{"arm cibd backoff 200ms"});
  CHECK(f.State("cibd") == DaemonState::kBackoff);
  CHECK(f.Pid("cibd") == 0);
  CHECK(f.View("cibd").last_exit == "signal 9 (Killed)");
  CHECK(f.View("cibd").since == f.now_);
  CHECK(f.View("cibd").restarts == 0);  // not respawned yet
  CHECK(f.Logged("cibd exited (signal 9 (Killed)): respawning it in 200ms"));
  f.now_ += absl::Milliseconds(200);
  CHECK(f.Fire("cibd", TimerKind::kBackoff) == Strings{"spawn cibd", "arm cibd start-timeout 30s"});
  CHECK(f.View("cibd").restarts == 1);
  CHECK(f.Spawned("cibd").empty());
  CHECK(f.Ready("cibd") == Strings{"cancel cibd start-timeout"});  // the others still run
  const std::vector<DaemonView> after = f.core_.Snapshot();
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].state == DaemonState::kRunning);
    CHECK((after[i].name == "cibd" || after[i].pid == before[i].pid));
    CHECK(after[i].restarts == (after[i].name == "cibd" ? 1 : 0));
  }
  CHECK(f.core_.stack_state() == StackState::kRunning);
}

TEST_CASE("back-off doubles per respawn and is capped") {
  Fixture f(Policy(100, absl::Hours(1)));
  f.StartAll();
  const Strings expected = {"200ms", "400ms", "800ms", "1.6s", "3.2s", "5s", "5s", "5s"};
  for (const std::string& backoff : expected) {
    CHECK(f.Exited("crmd", Exit(1)) == Strings{"arm crmd backoff " + backoff});
    f.Fire("crmd", TimerKind::kBackoff);
    f.Spawned("crmd");
    f.Ready("crmd");
  }
  CHECK(f.View("crmd").restarts == static_cast<int>(expected.size()));
}

TEST_CASE("a crash loop past the limit stops the stack in reverse order, failed") {
  Fixture f;
  f.StartAll();
  for (int i = 0; i < 5; ++i)
    f.CrashAndRespawn("crmd");
  CHECK(f.View("crmd").restarts == 5);
  // The sixth failure within the window: no respawn, stop everything else from the end.
  CHECK(f.Exited("crmd", Exit(1)) == f.StopsFirst("pengine"));
  CHECK(f.Logged("crmd exceeded its respawn limit (5 in 60s): stopping the stack"));
  CHECK(f.State("crmd") == DaemonState::kStopped);
  CHECK(f.View("crmd").restarts == 5);
  CHECK(f.core_.stack_state() == StackState::kStopping);
  f.ExpectStopOrder({"pengine", "lrmd", "stonithd", "cibd", "membershipd"}, "finished failed 100");
  CHECK(f.core_.stack_state() == StackState::kFailed);
}

TEST_CASE("respawns outside the window do not count") {
  Fixture f(Policy(2, absl::Seconds(10)));
  f.StartAll();
  for (int i = 0; i < 6; ++i) {
    f.now_ += absl::Seconds(10);  // the previous respawn is now exactly a window old
    CHECK(f.Exited("lrmd", Exit(1)) == Strings{"arm lrmd backoff 200ms"});
    f.Fire("lrmd", TimerKind::kBackoff);
    f.Spawned("lrmd");
    f.Ready("lrmd");
  }
  CHECK(f.View("lrmd").restarts == 6);
  // Within the window they do: two more respawns are allowed, the third failure is one too many.
  f.now_ += absl::Seconds(1);
  f.CrashAndRespawn("lrmd");
  f.now_ += absl::Seconds(1);
  CHECK(f.Exited("lrmd", Exit(1)) == f.StopsFirst("crmd"));
  CHECK(f.Logged("lrmd exceeded its respawn limit (2 in 10s): stopping the stack"));
}

TEST_CASE("a fatal or configuration exit stops the stack without a respawn") {
  const int code = GENERATE(100, 78);
  Fixture f;
  f.StartAll();
  CHECK(f.Exited("cibd", Exit(code)) == f.StopsFirst("crmd"));
  CHECK(f.State("cibd") == DaemonState::kStopped);
  CHECK(f.View("cibd").last_exit == absl::StrFormat("exit %d", code));
  CHECK(f.View("cibd").restarts == 0);
  CHECK(f.Logged("respawning cannot help, stopping the stack"));
  f.ExpectStopOrder({"crmd", "pengine", "lrmd", "stonithd", "membershipd"}, "finished failed 100");
  CHECK(f.core_.stack_state() == StackState::kFailed);
  Fixture g(RespawnPolicy{}, {"a"});  // a signal numbered like a fatal exit code is no such exit
  g.StartAll();
  CHECK(g.Exited("a", Killed(100)) == Strings{"arm a backoff 200ms"});
}

TEST_CASE("StopStack stops every daemon in reverse order, one at a time") {
  Fixture f;
  f.StartAll();
  CHECK(f.Stop() == f.StopsFirst("crmd"));
  CHECK(f.core_.stack_state() == StackState::kStopping);
  CHECK(f.State("crmd") == DaemonState::kStopping);
  CHECK(f.State("pengine") == DaemonState::kRunning);  // waits its turn
  CHECK(f.Stop().empty());                             // already stopping
  CHECK(f.Logged("ignoring the request to stop (SIGTERM): the stack is already stopping"));
  CHECK(f.Exited("crmd", Exit(0)) ==
        Strings{"cancel crmd stop-timeout", f.Term("pengine"), "arm pengine stop-timeout 10s"});
  CHECK(f.Exited("pengine", Exit(0)) ==
        Strings{"cancel pengine stop-timeout", f.Term("lrmd"), "arm lrmd stop-timeout 10s"});
  // lrmd ignores SIGTERM: SIGKILL after the stop timeout, and only its exit moves on.
  f.now_ += absl::Seconds(10);
  CHECK(f.Fire("lrmd", TimerKind::kStopTimeout) == Strings{f.KillSig("lrmd")});
  CHECK(f.Logged("lrmd did not stop within 10s: killing it"));
  CHECK(f.State("lrmd") == DaemonState::kStopping);
  CHECK(f.Exited("lrmd", Killed(SIGKILL)) == f.StopsFirst("stonithd"));
  f.ExpectStopOrder({"stonithd", "cibd", "membershipd"}, "finished stopped 0");
  CHECK(f.core_.stack_state() == StackState::kStopped);
  for (const DaemonView& v : f.core_.Snapshot())
    CHECK(v.state == DaemonState::kStopped);
  CHECK(f.Stop().empty());
  CHECK(f.Start().empty());
  CHECK(f.finished_ == 1);
}

TEST_CASE("StopStack during start-up stops only the started daemons") {
  Fixture f;
  f.Start();
  for (const std::string d : {"membershipd", "cibd"}) {
    f.Spawned(d);
    f.Ready(d);
  }
  f.Spawned("stonithd");  // starting, not ready
  const Strings stop = f.Stop();
  CHECK(stop.front() == "cancel stonithd start-timeout");
  CHECK(Strings(stop.begin() + 1, stop.end()) == f.StopsFirst("stonithd"));
  for (const std::string d : {"lrmd", "pengine", "crmd"})
    CHECK(f.State(d) == DaemonState::kStopped);
  CHECK(f.Ready("stonithd").empty());  // too late
  f.ExpectStopOrder({"stonithd", "cibd", "membershipd"}, "finished stopped 0");
}

TEST_CASE("StopStack before the spawn reply signals the daemon once its pid is known") {
  Fixture f(RespawnPolicy{}, {"a", "b"});
  f.Start();
  CHECK(f.Stop() == Strings{"cancel a start-timeout", "arm a stop-timeout 10s"});
  const Strings actions = f.Spawned("a");
  CHECK(actions == Strings{f.Term("a")});
  f.ExpectStopOrder({"a"}, "finished stopped 0");
}

TEST_CASE("StopStack before StartStack finishes at once, as does an empty stack") {
  Fixture f;
  CHECK(f.Stop() == Strings{"finished stopped 0"});
  CHECK(f.core_.stack_state() == StackState::kStopped);
  CHECK(f.Start().empty());
  Fixture empty(RespawnPolicy{}, {});
  CHECK(empty.Start().empty());
  CHECK(empty.core_.stack_state() == StackState::kRunning);
  CHECK(empty.Stop() == Strings{"finished stopped 0"});
}

TEST_CASE("a start timeout kills the daemon and counts as a failure") {
  Fixture f(RespawnPolicy{}, {"a", "b"});
  f.Start();
  f.Spawned("a");
  const std::string kill = f.KillSig("a");
  f.now_ += absl::Seconds(30);
  CHECK(f.Fire("a", TimerKind::kStartTimeout) == Strings{kill});
  CHECK(f.Logged("a did not report ready within 30s: killing it"));
  CHECK(f.Ready("a").empty());  // being killed: too late
  CHECK(f.Exited("a", Killed(SIGKILL)) == Strings{"arm a backoff 200ms"});
  CHECK(f.State("b") == DaemonState::kPending);
  CHECK(f.Fire("a", TimerKind::kBackoff) == Strings{"spawn a", "arm a start-timeout 30s"});
  CHECK(f.View("a").restarts == 1);
  // A start timeout before the spawn reply: SIGKILL as soon as the pid is known.
  CHECK(f.Fire("a", TimerKind::kStartTimeout).empty());
  const Strings actions = f.Spawned("a");
  CHECK(actions == Strings{f.KillSig("a")});
  CHECK(f.Exited("a", Killed(SIGKILL)) == Strings{"arm a backoff 400ms"});
}

TEST_CASE("spawn failures count as failures; an invalid pid is one, never signalled") {
  Fixture f(Policy(1), {"a", "b"});
  f.Start();
  CHECK(f.Feed(DaemonSpawned{"a", -1}) == Strings{"cancel a start-timeout", "arm a backoff 200ms"});
  CHECK(f.View("a").last_exit == "spawn failed: invalid pid -1");
  f.Fire("a", TimerKind::kBackoff);
  CHECK(f.Feed(SpawnFailed{"a", "No such file"}) ==
        Strings{"cancel a start-timeout", "finished failed 100"});
  CHECK(f.View("a").last_exit == "spawn failed: No such file");
  CHECK(f.core_.stack_state() == StackState::kFailed);
}

TEST_CASE("a daemon waits for every daemon before it, on a start and on a respawn") {
  Fixture f(RespawnPolicy{}, {"a", "b", "c"});
  f.Start();
  f.Spawned("a");
  f.Ready("a");
  f.Spawned("b");
  CHECK(f.Exited("b", Exit(1)) == Strings{"cancel b start-timeout", "arm b backoff 200ms"});
  CHECK(f.State("c") == DaemonState::kPending);
  f.Fire("b", TimerKind::kBackoff);
  f.Spawned("b");
  CHECK(f.Ready("b") == Strings{"cancel b start-timeout", "spawn c", "arm c start-timeout 30s"});
  f.Spawned("c");
  f.Ready("c");
  // Both b and c die; c's back-off ends first but it waits for b to be ready again.
  f.Exited("b", Killed(SIGSEGV));
  f.Exited("c", Killed(SIGSEGV));
  CHECK(f.Fire("c", TimerKind::kBackoff).empty());
  CHECK(f.State("c") == DaemonState::kPending);
  CHECK(f.Fire("b", TimerKind::kBackoff) == Strings{"spawn b", "arm b start-timeout 30s"});
  f.Spawned("b");
  CHECK(f.Ready("b") == Strings{"cancel b start-timeout", "spawn c", "arm c start-timeout 30s"});
  CHECK(f.View("c").restarts == 1);
}

TEST_CASE("exits of other daemons while stopping are not respawned") {
  Fixture f;
  f.StartAll();
  f.Stop();
  CHECK(f.Exited("cibd", Killed(SIGSEGV)).empty());
  CHECK(f.State("cibd") == DaemonState::kStopped);
  f.ExpectStopOrder({"crmd", "pengine", "lrmd", "stonithd", "membershipd"}, "finished stopped 0");
}

TEST_CASE("stale pids, stale timers and unknown daemons are ignored") {
  Fixture f;
  f.StartAll();
  const int old_pid = f.Pid("cibd");
  f.CrashAndRespawn("cibd");
  for (int pid : {old_pid, 0, -1})
    CHECK(f.Feed(DaemonExited{"cibd", pid, Exit(1)}).empty());
  for (TimerKind kind : {TimerKind::kBackoff, TimerKind::kStartTimeout, TimerKind::kStopTimeout})
    CHECK(f.Fire("cibd", kind).empty());
  CHECK(f.Feed(DaemonSpawned{"cibd", 4242}).empty());  // no spawn was requested
  CHECK(f.Feed(SpawnFailed{"cibd", "x"}).empty());
  CHECK(f.Ready("nosuchd").empty());
  CHECK(f.Logged("ignoring DaemonReady for unknown daemon 'nosuchd'"));
  CHECK(f.Feed(DaemonExited{"nosuchd", 1, Exit(1)}).empty());
  CHECK(f.Fire("nosuchd", TimerKind::kBackoff).empty());
  for (const DaemonView& v : f.core_.Snapshot())
    CHECK(v.state == DaemonState::kRunning);
  f.Exited("lrmd", Exit(1));  // nor is a stale pid taken for a daemon in back-off (pid 0)
  CHECK(f.Feed(DaemonExited{"lrmd", old_pid, Exit(1)}).empty());
}

// ---- Randomized: a random driver, checked against the invariants after every event. ----

// Answers the core's effects plausibly but in random order and at random times, with noise (stale
// pids and timers, unknown daemons, repeated requests). Returns "" or the first broken invariant.
class RandomRun {
 public:
  explicit RandomRun(uint32_t seed) : rng_(seed) {
    RespawnPolicy policy;
    policy.limit = Pick(6);
    policy.window = absl::Seconds(1 + Pick(20));
    policy.backoff_initial = absl::Milliseconds(100);
    policy.backoff_max = absl::Seconds(1);
    core_ = std::make_unique<SupervisorCore>(names_, policy);
    // Some runs crash a lot, some time out a lot, some hardly at all.
    crash_weight_ = std::vector{5, 40, 150}[Pick(3)];
    timer_weight_ = std::vector{20, 100, 250}[Pick(3)];
  }

  std::string Run() {
    Feed(StartStack{});
    for (int i = Pick(200); i > 0 && error_.empty() && finished_ == 0; --i)
      Feed(RandomEvent());
    // Then a cooperative driver must always bring the stack down.
    Feed(StopStack{"end of test"});
    for (int i = 0; i < 1000 && error_.empty() && finished_ == 0; ++i) {
      auto signalled = std::find_if(
          procs_.begin(), procs_.end(), [](const auto& p) { return p.second.signalled; });
      if (!spawns_.empty()) {
        Feed(Reply(0, /*fail=*/false));
      } else if (signalled != procs_.end()) {
        Feed(ExitOf(signalled->first, Killed(SIGTERM)));
      } else if (!timers_.empty()) {
        Feed(FireTimer(0));
      } else {
        break;
      }
    }
    if (error_.empty() && finished_ != 1)
      error_ = "the stack never finished";
    return error_;
  }

 private:
  struct Proc {
    std::string daemon;
    bool signalled = false;
  };
  struct Timer {
    TimerKey key;
    absl::Time deadline;
  };

  int Pick(size_t n) { return static_cast<int>(rng_() % n); }

  Event Reply(size_t i, bool fail) {
    const std::string d = spawns_[i];
    spawns_.erase(spawns_.begin() + static_cast<ptrdiff_t>(i));
    if (fail)
      return SpawnFailed{d, "random failure"};
    procs_[++pid_] = Proc{d};
    return DaemonSpawned{d, pid_};
  }
  Event ExitOf(int pid, ExitInfo exit) {
    const std::string d = procs_[pid].daemon;
    procs_.erase(pid);
    dead_.push_back(pid);
    return DaemonExited{d, pid, exit};
  }
  Event FireTimer(size_t i) {
    const TimerKey key = timers_[i].key;
    timers_.erase(timers_.begin() + static_cast<ptrdiff_t>(i));
    return TimerFired{key};
  }

  Event RandomEvent() {
    now_ += absl::Milliseconds(Pick(1500));
    const std::string name = Pick(10) == 0 ? "ghost" : names_[Pick(names_.size())];
    static const ExitInfo kExits[] = {
        Exit(0), Exit(1), Exit(1), Exit(78), Exit(100), Killed(9), Killed(9), Killed(15)};
    // Per mille; replies and readiness dominate so that stacks get up, then crash or stop.
    int roll = Pick(1000);
    if ((roll -= 5) < 0)
      return StartStack{};
    if ((roll -= 5) < 0)
      return StopStack{"random"};
    if ((roll -= 300) < 0 && !spawns_.empty())
      return Reply(Pick(spawns_.size()), Pick(8) == 0);
    if ((roll -= 350) < 0 && !procs_.empty()) {
      auto it = std::next(procs_.begin(), Pick(procs_.size()));
      return DaemonReady{it->second.daemon};
    }
    if ((roll -= crash_weight_) < 0 && !procs_.empty()) {
      auto it = std::next(procs_.begin(), Pick(procs_.size()));
      return ExitOf(it->first, it->second.signalled ? Killed(SIGTERM) : kExits[Pick(8)]);
    }
    if ((roll -= 20) < 0 && !dead_.empty())
      return DaemonExited{name, dead_[Pick(dead_.size())], Exit(1)};
    if ((roll -= timer_weight_) < 0 && !timers_.empty()) {
      // Mostly the earliest due one, as a real event loop would; sometimes any (reordered).
      auto due = std::min_element(timers_.begin(), timers_.end(), [](const auto& a, const auto& b) {
        return a.deadline < b.deadline;
      });
      if (due->deadline <= now_)
        return FireTimer(static_cast<size_t>(due - timers_.begin()));
      if (Pick(10) == 0)
        return FireTimer(Pick(timers_.size()));
    }
    switch (Pick(4)) {  // noise
      case 0:
        return DaemonReady{name};
      case 1:
        return DaemonExited{name, Pick(3) - 1, Killed(9)};
      case 2:  // a reply nobody asked for (the ones asked for are answered above)
        if (std::count(spawns_.begin(), spawns_.end(), name) > 0)
          return DaemonReady{name};
        return DaemonSpawned{name, 5000 + Pick(10)};
      default: {  // stale unless armed: the driver's report crossed a CancelTimer
        const TimerKey key{name, static_cast<TimerKind>(Pick(3))};
        auto it = std::find_if(
            timers_.begin(), timers_.end(), [&](const Timer& t) { return t.key == key; });
        if (it != timers_.end())
          return FireTimer(static_cast<size_t>(it - timers_.begin()));
        return TimerFired{key};
      }
    }
  }

  // Feeds `event`, applies the effects to the model, and checks the invariants.
  void Feed(const Event& event) {
    if (!error_.empty())
      return;
    const bool was_stopping = Stopping(core_->stack_state());
    const std::vector<Effect> effects = core_->Handle(event, now_);
    const std::vector<DaemonView> views = core_->Snapshot();
    const StackState after = core_->stack_state();
    ++step_;
    auto expect = [&](bool ok, const std::string& what) {
      if (ok || !error_.empty())
        return;
      std::vector<std::string> lines;
      for (const Effect& e : effects)
        lines.push_back(Describe(e));
      error_ =
          absl::StrFormat("step %d: %s\n  effects: %s", step_, what, absl::StrJoin(lines, "; "));
    };
    expect(!was_stopping || Stopping(after), "the stack left the stopping states");
    expect(
        std::count_if(views.begin(),
                      views.end(),
                      [](const DaemonView& v) { return v.state == DaemonState::kStopping; }) <= 1,
        "two daemons stopping at once");
    for (const Effect& effect : effects) {
      if (const auto* spawn = std::get_if<SpawnDaemon>(&effect)) {
        expect(!Stopping(after), "spawned after stopping began");
        expect(std::count(spawns_.begin(), spawns_.end(), spawn->daemon) == 0, "spawned twice");
        spawns_.push_back(spawn->daemon);
        for (const DaemonView& v : views) {
          if (v.name == spawn->daemon) {
            expect(v.state == DaemonState::kStarting, "spawned but not starting");
            break;
          }
          expect(v.state == DaemonState::kRunning, "spawned before " + v.name + " runs");
        }
      } else if (const auto* sig = std::get_if<SignalDaemon>(&effect)) {
        auto it = procs_.find(sig->pid);
        const bool known = it != procs_.end() && it->second.daemon == sig->daemon;
        expect(known, "signalled a process that is not that daemon's");
        if (known)
          it->second.signalled = true;
      } else if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
        std::erase_if(timers_, [&](const Timer& t) { return t.key == arm->key; });
        timers_.push_back(Timer{arm->key, now_ + arm->after});
      } else if (const auto* cancel = std::get_if<CancelTimer>(&effect)) {
        expect(std::erase_if(timers_, [&](const Timer& t) { return t.key == cancel->key; }) == 1,
               "cancelled a timer that is not armed");
      } else if (const auto* done = std::get_if<StackFinished>(&effect)) {
        expect(++finished_ == 1, "StackFinished twice");
        expect(done->final_state == after, "finished in another state than reported");
        expect(after == StackState::kFailed || after == StackState::kStopped, "not final");
        expect(done->exit_code == (after == StackState::kFailed ? 100 : 0), "wrong exit code");
      }
    }
    expect(finished_ == 0 || (procs_.empty() && spawns_.empty() && timers_.empty()),
           "processes or timers left behind");
    for (const DaemonView& v : views) {
      expect(finished_ == 0 || v.state == DaemonState::kStopped, v.name + " not stopped");
      // The core's pids are exactly the live processes.
      int live = 0;
      for (const auto& [pid, proc] : procs_) {
        expect(proc.daemon != v.name || pid == v.pid, v.name + " lost track of a process");
        live += proc.daemon == v.name ? 1 : 0;
      }
      expect(live > 0 || v.pid == 0, v.name + " has a pid but no process");
    }
  }

  static bool Stopping(StackState s) {
    return s != StackState::kStarting && s != StackState::kRunning;
  }

  std::mt19937 rng_;
  const std::vector<std::string> names_ = {"a", "b", "c", "d"};
  std::unique_ptr<SupervisorCore> core_;
  absl::Time now_ = absl::UnixEpoch();
  int crash_weight_ = 0;  // per mille of events that end a process
  int timer_weight_ = 0;  // per mille of events that fire an armed timer
  int pid_ = 1000;
  int step_ = 0;
  int finished_ = 0;
  std::vector<std::string> spawns_;  // awaiting a reply
  std::map<int, Proc> procs_;        // live processes by pid
  std::vector<int> dead_;
  std::vector<Timer> timers_;  // armed, in arming order
  std::string error_;
};

TEST_CASE("random event sequences keep the invariants") {
  ha::testing::RunSeeds(
      "HA_SUPERVISOR_SEED", 5000, [](uint32_t seed) { return RandomRun(seed).Run(); });
}

}  // namespace
}  // namespace ha::supervisor
