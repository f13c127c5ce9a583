#include "lrmd/executor_core.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/seeded_runs.h"

namespace ha::lrmd {
namespace {

using Strings = std::vector<std::string>;

// "r1:start", "r1:monitor:10s".
std::string Label(const std::string& resource, const std::string& action, absl::Duration interval) {
  std::string label = resource + ":" + action;
  if (interval > absl::ZeroDuration())
    label += ":" + absl::FormatDuration(interval);
  return label;
}

std::string Label(const ActionRequest& r) {
  return Label(r.resource.id, r.action, r.interval);
}

// "report r1:monitor:10s #3 done not running changed", "report r1:stop #4 cancelled".
std::string DescribeResult(const ActionResult& r) {
  std::string text = absl::StrFormat("report %s #%d %s",
                                     Label(r.resource_id, r.action, r.interval),
                                     r.call_id,
                                     ExecStatusName(r.status));
  if (r.status == ExecStatus::kDone)
    text += absl::StrFormat(" %s", OcfExitCodeName(r.exit_code));
  if (r.changed)
    text += " changed";
  return text;
}

ActionRequest Request(const std::string& resource,
                      const std::string& action,
                      absl::Duration interval = absl::ZeroDuration()) {
  ActionRequest request;
  request.resource.id = resource;
  request.resource.provider = "heartbeat";
  request.resource.type = "Dummy";
  request.action = action;
  request.interval = interval;
  return request;
}

// Drives a core by hand: each call feeds one event and returns its actions as one line each,
// except log messages (kept aside in logs_) and the call id (kept in call_).
class Fixture {
 public:
  explicit Fixture(int max_parallel = 16) : core_(ExecutorOptions{.max_parallel = max_parallel}) {}

  Strings Feed(const Event& event) {
    Strings actions;
    const std::vector<Effect> effects = core_.Handle(event, now_);
    for (size_t i = 0; i < effects.size(); ++i) {
      const Effect& e = effects[i];
      if (const auto* log = std::get_if<LogMessage>(&e)) {
        logs_.push_back(log->text);
      } else if (const auto* assigned = std::get_if<CallAssigned>(&e)) {
        CHECK(i == 0);
        CHECK(assigned->call_id > call_);
        call_ = assigned->call_id;
      } else if (const auto* run = std::get_if<RunAgent>(&e)) {
        labels_[run->call_id] = Label(run->request);
        runs_[run->run_id] = Label(run->request);
        actions.push_back("run " + Label(run->request));
      } else if (const auto* kill = std::get_if<CancelRun>(&e)) {
        actions.push_back("kill " + runs_[kill->run_id]);
      } else if (const auto* arm = std::get_if<ArmTimer>(&e)) {
        actions.push_back(absl::StrFormat(
            "arm %s %s", labels_[arm->key.call_id], absl::FormatDuration(arm->after)));
      } else if (const auto* cancel = std::get_if<CancelTimer>(&e)) {
        actions.push_back("cancel-timer " + labels_[cancel->key.call_id]);
      } else if (const auto* report = std::get_if<Report>(&e)) {
        reports_.push_back(report->result);
        actions.push_back(DescribeResult(report->result));
      }
    }
    return actions;
  }

  Strings Exec(const std::string& resource,
               const std::string& action,
               absl::Duration interval = absl::ZeroDuration()) {
    return Feed(lrmd::Exec{.request = Request(resource, action, interval)});
  }
  Strings Cancel(const std::string& resource,
                 const std::string& action,
                 absl::Duration interval = absl::ZeroDuration()) {
    return Feed(lrmd::Cancel{.resource_id = resource, .action = action, .interval = interval});
  }
  // The live run of `resource` ends after `took`, as the runner would report it.
  Strings Finish(const std::string& resource,
                 OcfExitCode code = OcfExitCode::kOk,
                 ExecStatus status = ExecStatus::kDone,
                 absl::Duration took = absl::Seconds(1)) {
    const OpView* op = Live(resource);
    if (op == nullptr) {
      FAIL("nothing runs on " << resource);
      return {};
    }
    const int64_t run_id = op->run_id;
    const absl::Time started = now_;
    now_ += took;
    return Feed(AgentFinished{.run_id = run_id,
                              .status = status,
                              .exit_code = code,
                              .raw_exit_code = static_cast<int>(code),
                              .started = started,
                              .duration = took});
  }
  // Fires the timer of the recurring operation (resource, action, interval).
  Strings Fire(const std::string& resource, const std::string& action, absl::Duration interval) {
    for (const OpView& op : Ops()) {
      if (op.resource_id == resource && op.action == action && op.interval == interval)
        return Feed(TimerFired{TimerKey{op.call_id}});
    }
    FAIL("no operation " << Label(resource, action, interval));
    return {};
  }

  const std::vector<OpView>& Ops() {
    ops_ = core_.Operations();
    return ops_;
  }
  // The operation of `resource` whose run is live, or nullptr.
  const OpView* Live(const std::string& resource) {
    for (const OpView& op : Ops()) {
      if (op.resource_id == resource &&
          (op.state == OpState::kRunning || op.state == OpState::kCancelling))
        return &op;
    }
    return nullptr;
  }
  // "r1:start queued", in call order.
  Strings States() {
    Strings states;
    for (const OpView& op : Ops()) {
      states.push_back(Label(op.resource_id, op.action, op.interval) + " " +
                       std::string(OpStateName(op.state)));
    }
    return states;
  }
  bool Logged(const std::string& text) const {
    return std::any_of(logs_.begin(), logs_.end(), [&](const std::string& l) {
      return l.find(text) != std::string::npos;
    });
  }

  ExecutorCore core_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  int64_t call_ = 0;                       // the last call id assigned
  std::map<int64_t, std::string> labels_;  // by call id
  std::map<int64_t, std::string> runs_;    // by run id
  std::vector<ActionResult> reports_;
  std::vector<OpView> ops_;
  Strings logs_;
};

const absl::Duration k10s = absl::Seconds(10);
const absl::Duration k30s = absl::Seconds(30);

TEST_CASE("names and failures") {
  CHECK(OcfExitCodeName(OcfExitCode::kNotRunning) == "not running");
  CHECK(ExecStatusName(ExecStatus::kTimedOut) == "timed out");
  CHECK(OpStateName(OpState::kCancelling) == "cancelling");
  auto result = [](const std::string& action, ExecStatus status, OcfExitCode code) {
    ActionResult r;
    r.action = action;
    r.status = status;
    r.exit_code = code;
    return r;
  };
  CHECK_FALSE(IsFailure(result("start", ExecStatus::kDone, OcfExitCode::kOk)));
  CHECK(IsFailure(result("start", ExecStatus::kDone, OcfExitCode::kNotRunning)));
  CHECK(IsFailure(result("stop", ExecStatus::kDone, OcfExitCode::kErrGeneric)));
  CHECK(IsFailure(result("start", ExecStatus::kTimedOut, OcfExitCode::kOk)));
  CHECK(IsFailure(result("monitor", ExecStatus::kNotInstalled, OcfExitCode::kOk)));
  CHECK_FALSE(IsFailure(result("monitor", ExecStatus::kDone, OcfExitCode::kNotRunning)));
  CHECK_FALSE(IsFailure(result("monitor", ExecStatus::kDone, OcfExitCode::kRunningPromoted)));
  CHECK(IsFailure(result("monitor", ExecStatus::kDone, OcfExitCode::kFailedPromoted)));
  CHECK_FALSE(IsFailure(result("start", ExecStatus::kCancelled, OcfExitCode::kErrGeneric)));
}

TEST_CASE("operations on one resource run one at a time, in arrival order") {
  Fixture f;
  CHECK(f.Exec("r1", "start") == Strings{"run r1:start"});
  CHECK(f.call_ == 1);
  CHECK(f.Exec("r1", "monitor").empty());  // a probe, waits for the start
  CHECK(f.Exec("r1", "stop").empty());
  CHECK(f.Exec("r2", "start") == Strings{"run r2:start"});  // another resource runs in parallel
  CHECK(f.States() ==
        Strings{"r1:start running", "r1:monitor queued", "r1:stop queued", "r2:start running"});
  CHECK(f.core_.running() == 2);
  CHECK(f.Finish("r1") == Strings{"report r1:start #1 done ok", "run r1:monitor"});
  CHECK(f.Finish("r1", OcfExitCode::kNotRunning) ==
        Strings{"report r1:monitor #2 done not running", "run r1:stop"});
  CHECK(f.Finish("r1") == Strings{"report r1:stop #3 done ok"});
  CHECK(f.States() == Strings{"r2:start running"});
  CHECK(f.core_.Resources() == Strings{"r1", "r2"});
}

TEST_CASE("at most max_parallel run at once; waiting ones start in arrival order") {
  Fixture f(2);
  CHECK(f.core_.max_parallel() == 2);
  CHECK(f.Exec("a", "start") == Strings{"run a:start"});
  CHECK(f.Exec("b", "start") == Strings{"run b:start"});
  CHECK(f.Exec("c", "start").empty());
  CHECK(f.Exec("d", "start").empty());
  CHECK(f.Exec("a", "monitor", k10s).empty());  // behind a:start, and after d
  CHECK(f.core_.running() == 2);
  CHECK(f.Finish("b") == Strings{"report b:start #2 done ok", "run c:start"});
  // a's monitor is a's next one, but d:start came first.
  CHECK(f.Finish("a") == Strings{"report a:start #1 done ok", "run d:start"});
  CHECK(f.Finish("c") == Strings{"report c:start #3 done ok", "run a:monitor:10s"});
  CHECK(f.core_.running() == 2);
  CHECK(f.Finish("d") == Strings{"report d:start #4 done ok"});
  CHECK(f.core_.running() == 1);
  // A recurring run due while the slots are taken waits its turn like any other.
  CHECK(f.Finish("a") ==
        Strings{"report a:monitor:10s #5 done ok changed", "arm a:monitor:10s 10s"});
  CHECK(f.Exec("b", "stop") == Strings{"run b:stop"});
  CHECK(f.Exec("c", "stop") == Strings{"run c:stop"});
  CHECK(f.Fire("a", "monitor", k10s).empty());
  CHECK(f.Exec("d", "stop").empty());
  CHECK(f.Finish("c") == Strings{"report c:stop #7 done ok", "run a:monitor:10s"});
  CHECK(f.Finish("b") == Strings{"report b:stop #6 done ok", "run d:stop"});

  Fixture one(0);  // counts as 1
  CHECK(one.core_.max_parallel() == 1);
  CHECK(one.Exec("a", "start") == Strings{"run a:start"});
  CHECK(one.Exec("b", "start").empty());
  CHECK(one.Finish("a") == Strings{"report a:start #1 done ok", "run b:start"});
}

TEST_CASE("a recurring monitor reports its first result and then only changes") {
  Fixture f;
  f.Exec("r1", "start");
  f.Finish("r1");
  CHECK(f.Exec("r1", "monitor", k10s) == Strings{"run r1:monitor:10s"});
  const int64_t call = f.call_;
  CHECK(f.Finish("r1") ==
        Strings{"report r1:monitor:10s #2 done ok changed", "arm r1:monitor:10s 10s"});
  CHECK(f.States() == Strings{"r1:monitor:10s scheduled"});
  // Unchanged results are not reported, but the next run is always scheduled, `interval` after
  // the previous one finished.
  for (int i = 0; i < 3; ++i) {
    f.now_ += k10s;
    CHECK(f.Fire("r1", "monitor", k10s) == Strings{"run r1:monitor:10s"});
    CHECK(f.Finish("r1") == Strings{"arm r1:monitor:10s 10s"});
  }
  const absl::Time last_run = f.now_ - absl::Seconds(1);
  CHECK(f.core_.History("r1")->last.at(ActionKey{"monitor", k10s}).started == last_run);
  // The state file disappears 3s after a run: the next run, at most one interval later, sees it.
  const absl::Time removed = f.now_ + absl::Seconds(3);
  f.now_ += k10s;
  CHECK(f.Fire("r1", "monitor", k10s) == Strings{"run r1:monitor:10s"});
  CHECK(f.Finish("r1", OcfExitCode::kNotRunning) ==
        Strings{"report r1:monitor:10s #2 done not running changed", "arm r1:monitor:10s 10s"});
  CHECK(f.now_ - removed <= k10s);
  CHECK(f.reports_.back().call_id == call);  // every run reports with the Exec's call id
  CHECK(f.reports_.back().started == f.now_ - absl::Seconds(1));
  CHECK(f.reports_.back().duration == absl::Seconds(1));
  // Still not running: unchanged. Then a failure of another kind, then a time-out: each a change.
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1", OcfExitCode::kNotRunning) == Strings{"arm r1:monitor:10s 10s"});
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1", OcfExitCode::kErrGeneric) ==
        Strings{"report r1:monitor:10s #2 done error changed", "arm r1:monitor:10s 10s"});
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1", OcfExitCode::kErrGeneric, ExecStatus::kTimedOut) ==
        Strings{"report r1:monitor:10s #2 timed out changed", "arm r1:monitor:10s 10s"});
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1", OcfExitCode::kOk, ExecStatus::kTimedOut) ==
        Strings{"arm r1:monitor:10s 10s"});
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1") ==
        Strings{"report r1:monitor:10s #2 done ok changed", "arm r1:monitor:10s 10s"});
}

TEST_CASE("cancelling a queued operation") {
  Fixture f;
  f.Exec("r1", "start");
  CHECK(f.Exec("r1", "monitor", k10s).empty());
  CHECK(f.Exec("r1", "promote").empty());
  CHECK(f.Cancel("r1", "monitor", k10s) == Strings{"report r1:monitor:10s #2 cancelled changed"});
  CHECK(f.Cancel("r1", "promote") == Strings{"report r1:promote #3 cancelled"});
  CHECK(f.States() == Strings{"r1:start running"});
  CHECK(f.Finish("r1") == Strings{"report r1:start #1 done ok"});  // nothing else runs
  CHECK(f.Cancel("r1", "monitor", k10s).empty());
  CHECK(f.Logged("ignoring Cancel of r1 monitor interval 10s: no such operation"));
}

TEST_CASE("cancelling a scheduled recurring operation") {
  Fixture f;
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  REQUIRE(f.core_.History("r1")->last.count(ActionKey{"monitor", k10s}) == 1);
  CHECK(f.Cancel("r1", "monitor", k10s) ==
        Strings{"cancel-timer r1:monitor:10s", "report r1:monitor:10s #1 cancelled changed"});
  CHECK(f.States().empty());
  CHECK(f.core_.History("r1")->last.empty());      // a cancelled recurring operation is forgotten
  CHECK(f.Feed(TimerFired{TimerKey{1}}).empty());  // its timer, had the cancel crossed it
  CHECK(f.Logged("ignoring a stale timer for call 1"));
  CHECK(f.Cancel("r1", "monitor", k30s).empty());  // another interval is another operation
}

TEST_CASE("cancelling a running operation kills it and reports kCancelled once") {
  Fixture f;
  f.Exec("r1", "monitor", k10s);
  f.Exec("r1", "stop", absl::ZeroDuration());  // cancels the monitor: it is running
  CHECK(f.States() == Strings{"r1:monitor:10s cancelling", "r1:stop queued"});
  // Cancelling it again changes nothing; its (possibly successful) end reports kCancelled.
  CHECK(f.Cancel("r1", "monitor", k10s).empty());
  CHECK(f.Logged("ignoring Cancel of r1 monitor interval 10s: already being cancelled"));
  CHECK(f.Finish("r1") == Strings{"report r1:monitor:10s #1 cancelled changed", "run r1:stop"});
  CHECK(f.reports_.front().status == ExecStatus::kCancelled);

  // A one-shot operation too; the runner reports it cancelled, with its times.
  Fixture g;
  g.Exec("r1", "start");
  CHECK(g.Cancel("r1", "start") == Strings{"kill r1:start"});
  CHECK(g.Finish("r1", OcfExitCode::kErrGeneric, ExecStatus::kCancelled, absl::Seconds(2)) ==
        Strings{"report r1:start #1 cancelled"});
  CHECK(g.reports_.back().duration == absl::Seconds(2));
  CHECK(g.core_.running() == 0);
  CHECK(g.core_.History("r1")->last.empty());  // not a result of the agent's
  CHECK_FALSE(g.core_.History("r1")->last_failure.has_value());
}

TEST_CASE("a recurring operation the runner cancels ends there") {
  Fixture f;
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  f.Fire("r1", "monitor", k10s);
  CHECK(f.Finish("r1", OcfExitCode::kOk, ExecStatus::kCancelled) ==
        Strings{"report r1:monitor:10s #1 cancelled changed"});
  CHECK(f.States().empty());
  CHECK(f.core_.History("r1")->last.empty());
  CHECK(f.Logged("r1 monitor every 10s (call 1) cancelled by the runner"));
}

TEST_CASE("a stop cancels the resource's recurring operations first") {
  Fixture f;
  f.Exec("r1", "start");
  f.Finish("r1");
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  f.Exec("r1", "monitor", k30s);
  f.Finish("r1");
  f.Exec("r2", "monitor", k10s);  // another resource's: untouched
  f.Finish("r2");
  f.Fire("r1", "monitor", k30s);  // running when the stop comes
  CHECK(f.Exec("r1", "stop") == Strings{"cancel-timer r1:monitor:10s",
                                        "report r1:monitor:10s #2 cancelled changed",
                                        "kill r1:monitor:30s"});
  CHECK(f.States() ==
        Strings{"r1:monitor:30s cancelling", "r2:monitor:10s scheduled", "r1:stop queued"});
  CHECK(f.Finish("r1", OcfExitCode::kOk, ExecStatus::kCancelled) ==
        Strings{"report r1:monitor:30s #3 cancelled changed", "run r1:stop"});
  CHECK(f.Finish("r1") == Strings{"report r1:stop #5 done ok"});
  const ResourceHistory history = *f.core_.History("r1");
  CHECK(history.last.size() == 2);  // start and stop; the monitors are forgotten
  CHECK(history.last.at(ActionKey{"stop", absl::ZeroDuration()}).call_id == 5);
  CHECK(f.States() == Strings{"r2:monitor:10s scheduled"});
  // A stop result is always reported, even the same one again; so is a failed one.
  CHECK(f.Exec("r1", "stop") == Strings{"run r1:stop"});
  CHECK(f.Finish("r1") == Strings{"report r1:stop #6 done ok"});
  f.Exec("r1", "stop");
  CHECK(f.Finish("r1", OcfExitCode::kErrGeneric, ExecStatus::kTimedOut) ==
        Strings{"report r1:stop #7 timed out"});
}

TEST_CASE("a new recurring operation with the same key replaces the old one") {
  Fixture f;
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  CHECK(f.Exec("r1", "monitor", k10s) == Strings{"cancel-timer r1:monitor:10s",
                                                 "report r1:monitor:10s #1 cancelled changed",
                                                 "run r1:monitor:10s"});
  // The replacement's first result is reported even if it is the same.
  CHECK(f.Finish("r1") ==
        Strings{"report r1:monitor:10s #2 done ok changed", "arm r1:monitor:10s 10s"});
  CHECK(f.Exec("r1", "monitor", k30s) == Strings{"run r1:monitor:30s"});  // not the same key
  // Replacing a running one: the new one waits for the killed run.
  CHECK(f.Exec("r1", "monitor", k30s) == Strings{"kill r1:monitor:30s"});
  CHECK(f.States() ==
        Strings{"r1:monitor:10s scheduled", "r1:monitor:30s cancelling", "r1:monitor:30s queued"});
  CHECK(f.Finish("r1", OcfExitCode::kOk, ExecStatus::kCancelled) ==
        Strings{"report r1:monitor:30s #3 cancelled changed", "run r1:monitor:30s"});
  CHECK(f.Finish("r1") ==
        Strings{"report r1:monitor:30s #4 done ok changed", "arm r1:monitor:30s 30s"});
}

TEST_CASE("history keeps the last result of each action and the last failure") {
  Fixture f;
  CHECK_FALSE(f.core_.History("r1").has_value());
  f.Exec("r1", "monitor");
  f.Finish("r1", OcfExitCode::kNotRunning);  // a probe: not running is no failure
  f.Exec("r1", "start");
  f.Finish("r1", OcfExitCode::kErrGeneric, ExecStatus::kTimedOut);
  f.Exec("r1", "stop");
  f.Finish("r1");
  f.Exec("r1", "start");
  AgentFinished done{.run_id = f.Live("r1")->run_id,
                     .status = ExecStatus::kDone,
                     .exit_code = OcfExitCode::kOk,
                     .raw_exit_code = 0,
                     .exit_reason = "",
                     .stdout_tail = "started",
                     .stderr_tail = "warning",
                     .started = f.now_,
                     .duration = absl::Milliseconds(300)};
  CHECK(f.Feed(done) == Strings{"report r1:start #4 done ok"});
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  f.Fire("r1", "monitor", k10s);
  f.Finish("r1", OcfExitCode::kErrConfigured);
  f.Fire("r1", "monitor", k10s);
  f.now_ += absl::Seconds(5);
  f.Finish("r1", OcfExitCode::kErrConfigured);  // unchanged, not reported, but kept

  const ResourceHistory h = *f.core_.History("r1");
  CHECK(h.resource_id == "r1");
  Strings entries;
  for (const auto& [key, result] : h.last)
    entries.push_back(DescribeResult(result));
  CHECK(entries == Strings{"report r1:monitor #1 done not running",
                           "report r1:monitor:10s #5 done not configured",
                           "report r1:start #4 done ok",
                           "report r1:stop #3 done ok"});
  const ActionResult& start = h.last.at(ActionKey{"start", absl::ZeroDuration()});
  CHECK(start.stdout_tail == "started");
  CHECK(start.stderr_tail == "warning");
  CHECK(start.duration == absl::Milliseconds(300));
  REQUIRE(h.last_failure.has_value());
  CHECK(h.last_failure->action == "monitor");
  CHECK(h.last_failure->started == f.now_ - absl::Seconds(1));  // the unchanged, later run
  CHECK_FALSE(h.last.at(ActionKey{"monitor", k10s}).changed);
  CHECK(f.core_.History("r2") == std::nullopt);
}

TEST_CASE("unregistering a resource cancels its operations and forgets it") {
  Fixture f;
  f.Exec("r1", "start");
  f.Finish("r1");
  f.Exec("r1", "monitor", k10s);
  f.Finish("r1");
  f.Exec("r2", "start");
  f.Exec("r2", "monitor", k10s);
  CHECK(f.core_.Resources() == Strings{"r1", "r2"});
  CHECK(f.Feed(UnregisterResource{"r1"}) ==
        Strings{"cancel-timer r1:monitor:10s", "report r1:monitor:10s #2 cancelled changed"});
  CHECK(f.core_.Resources() == Strings{"r2"});
  CHECK_FALSE(f.core_.History("r1").has_value());
  CHECK(f.Feed(UnregisterResource{"r1"}).empty());
  CHECK(f.Logged("ignoring UnregisterResource of r1: unknown resource"));
  CHECK(f.Cancel("r1", "start").empty());
  // With a running operation: it is killed; a new registration waits for it.
  CHECK(f.Feed(UnregisterResource{"r2"}) ==
        Strings{"kill r2:start", "report r2:monitor:10s #4 cancelled changed"});
  CHECK(f.core_.Resources().empty());
  CHECK(f.Exec("r2", "start").empty());
  CHECK(f.core_.Resources() == Strings{"r2"});
  CHECK(f.Finish("r2", OcfExitCode::kOk, ExecStatus::kCancelled) ==
        Strings{"report r2:start #3 cancelled", "run r2:start"});
  CHECK(f.Finish("r2") == Strings{"report r2:start #5 done ok"});
  CHECK(f.core_.History("r2")->last.size() == 1);
  // Unregistered while running, and nothing new: gone once the run ends.
  f.Exec("r3", "start");
  f.Feed(UnregisterResource{"r3"});
  f.Finish("r3", OcfExitCode::kOk, ExecStatus::kCancelled);
  CHECK(f.core_.Resources() == Strings{"r2"});
  CHECK(f.States().empty());
}

TEST_CASE("invalid requests are reported as errors, stale events are ignored") {
  Fixture f;
  CHECK(f.Exec("", "start") == Strings{"report :start #1 error"});
  CHECK(f.reports_.back().exit_reason == "invalid request: no resource id");
  CHECK(f.Exec("r1", "") == Strings{"report r1: #2 error"});
  CHECK(f.Exec("r1", "monitor", absl::Seconds(-1)) == Strings{"report r1:monitor #3 error"});
  CHECK(f.core_.Resources().empty());
  CHECK(f.Feed(AgentFinished{.run_id = 1}).empty());
  CHECK(f.Logged("ignoring AgentFinished for unknown run 1"));
  f.Exec("r1", "monitor", k10s);
  const int64_t run = f.Live("r1")->run_id;
  f.Finish("r1");
  CHECK(f.Feed(AgentFinished{.run_id = run}).empty());  // a second report of the same run
  CHECK(f.Feed(AgentFinished{.run_id = 0}).empty());
  CHECK(f.Feed(AgentFinished{.run_id = -7}).empty());
  CHECK(f.Feed(TimerFired{TimerKey{99}}).empty());
  CHECK(f.Feed(TimerFired{TimerKey{1}}).empty());  // call 1 was rejected: no such operation
  CHECK(f.Cancel("nosuch", "stop").empty());
  CHECK(f.Logged("ignoring Cancel of nosuch stop interval 0: unknown resource"));
  CHECK(f.States() == Strings{"r1:monitor:10s scheduled"});
  CHECK(f.Fire("r1", "monitor", k10s) == Strings{"run r1:monitor:10s"});
  CHECK(f.Fire("r1", "monitor", k10s).empty());  // a second fire while it runs: stale
  CHECK(f.States() == Strings{"r1:monitor:10s running"});
}

// ---- Randomized: a random driver, checked against the invariants after every event. ----

// Answers the core's effects plausibly, in random order and at random times, with noise (stale
// runs and timers, unknown operations and resources, repeated requests). Returns "" or the first
// broken invariant.
class RandomRun {
 public:
  explicit RandomRun(uint32_t seed) : rng_(seed) {
    max_parallel_ = 1 + Pick(4);
    core_ = std::make_unique<ExecutorCore>(ExecutorOptions{.max_parallel = max_parallel_});
    finish_weight_ = std::vector{150, 300, 500}[Pick(3)];
    cancel_weight_ = std::vector{20, 80, 200}[Pick(3)];
  }

  std::string Run() {
    for (int i = 50 + Pick(300); i > 0 && error_.empty(); --i)
      Feed(RandomEvent());
    // Then a cooperative driver ends every run and cancels every recurring operation.
    for (int i = 0; i < 10000 && error_.empty(); ++i) {
      const std::vector<OpView> ops = core_->Operations();
      if (!live_.empty()) {
        Feed(FinishRun(live_.begin()->first));
      } else if (!ops.empty()) {
        const OpView& op = ops.front();
        Feed(Cancel{.resource_id = op.resource_id, .action = op.action, .interval = op.interval});
      } else {
        break;
      }
    }
    Check(core_->Operations().empty() && live_.empty() && timers_.empty() && core_->running() == 0,
          "operations, runs or timers left behind",
          {});
    for (const auto& [call_id, call] : calls_) {
      Check(call.reports > 0 || call.recurring,
            absl::StrFormat("call %d never reported", call_id),
            {});
      Check(!call.recurring || call.cancelled,
            absl::StrFormat("recurring call %d never reported cancelled", call_id),
            {});
    }
    return error_;
  }

 private:
  struct LiveRun {
    std::string resource;
    int64_t call_id;
    bool killed = false;
  };
  struct Call {
    bool recurring = false;
    int reports = 0;
    bool cancelled = false;  // its kCancelled was reported
  };

  int Pick(size_t n) { return static_cast<int>(rng_() % n); }

  ActionRequest RandomRequest() {
    static const char* kActions[] = {"start", "stop", "monitor", "monitor", "promote", "meta-data"};
    static const absl::Duration kIntervals[] = {
        absl::ZeroDuration(), absl::Seconds(5), absl::Seconds(10)};
    ActionRequest r = Request(resources_[Pick(resources_.size())], kActions[Pick(6)]);
    if (r.action == "monitor")
      r.interval = kIntervals[Pick(3)];
    if (Pick(40) == 0)
      r.resource.id = "";
    if (Pick(40) == 0)
      r.interval = absl::Seconds(-5);
    return r;
  }

  Event FinishRun(int64_t run_id) {
    const LiveRun& run = live_.at(run_id);
    static const ExecStatus kStatus[] = {ExecStatus::kDone,
                                         ExecStatus::kDone,
                                         ExecStatus::kDone,
                                         ExecStatus::kDone,
                                         ExecStatus::kTimedOut,
                                         ExecStatus::kError,
                                         ExecStatus::kNotInstalled,
                                         ExecStatus::kCancelled};
    static const OcfExitCode kCodes[] = {OcfExitCode::kOk,
                                         OcfExitCode::kOk,
                                         OcfExitCode::kOk,
                                         OcfExitCode::kNotRunning,
                                         OcfExitCode::kErrGeneric,
                                         OcfExitCode::kRunningPromoted};
    ExecStatus status = kStatus[Pick(8)];
    if (run.killed && Pick(4) != 0)
      status = ExecStatus::kCancelled;
    const absl::Duration took = absl::Milliseconds(Pick(3000));
    now_ += took;
    return AgentFinished{.run_id = run_id,
                         .status = status,
                         .exit_code = kCodes[Pick(6)],
                         .started = now_ - took,
                         .duration = took};
  }

  Event RandomEvent() {
    now_ += absl::Milliseconds(Pick(2000));
    int roll = Pick(1000);
    if ((roll -= finish_weight_) < 0 && !live_.empty())
      return FinishRun(std::next(live_.begin(), Pick(live_.size()))->first);
    if ((roll -= 200) < 0 && !timers_.empty()) {
      // Mostly the earliest due one, as a real event loop would; sometimes any.
      auto due = std::min_element(timers_.begin(), timers_.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      });
      if (Pick(5) == 0)
        due = std::next(timers_.begin(), Pick(timers_.size()));
      now_ = std::max(now_, due->second);
      return TimerFired{TimerKey{due->first}};
    }
    if ((roll -= cancel_weight_) < 0) {
      const std::vector<OpView> ops = core_->Operations();
      if (!ops.empty() && Pick(4) != 0) {
        const OpView& op = ops[Pick(ops.size())];
        return Cancel{.resource_id = op.resource_id, .action = op.action, .interval = op.interval};
      }
      const ActionRequest r = RandomRequest();
      return Cancel{.resource_id = r.resource.id, .action = r.action, .interval = r.interval};
    }
    if ((roll -= 15) < 0)
      return UnregisterResource{resources_[Pick(resources_.size())]};
    if ((roll -= 30) < 0) {  // noise: stale or unknown runs and timers
      if (!finished_.empty() && Pick(2) == 0)
        return AgentFinished{.run_id = *std::next(finished_.begin(), Pick(finished_.size()))};
      if (Pick(2) == 0)
        return AgentFinished{.run_id = Pick(5) - 1};
      return TimerFired{TimerKey{Pick(50)}};
    }
    return Exec{.request = RandomRequest()};
  }

  void Check(bool ok, const std::string& what, const std::vector<Effect>& effects) {
    if (ok || !error_.empty())
      return;
    Strings lines;
    for (const Effect& e : effects) {
      if (const auto* log = std::get_if<LogMessage>(&e))
        lines.push_back("log " + log->text);
      else if (const auto* report = std::get_if<Report>(&e))
        lines.push_back(DescribeResult(report->result));
      else
        lines.push_back(absl::StrFormat("effect %d", e.index()));
    }
    error_ = absl::StrFormat("step %d: %s\n  effects: %s", step_, what, absl::StrJoin(lines, "; "));
  }

  // Feeds `event`, applies the effects to the model, and checks the invariants.
  void Feed(const Event& event) {
    if (!error_.empty())
      return;
    ++step_;
    bool stale = false;  // the event must change nothing
    if (const auto* finished = std::get_if<AgentFinished>(&event)) {
      stale = live_.erase(finished->run_id) == 0;
      if (!stale)
        finished_.insert(finished->run_id);
    } else if (const auto* fired = std::get_if<TimerFired>(&event)) {
      stale = timers_.erase(fired->key.call_id) == 0;
    }
    const std::vector<Effect> effects = core_->Handle(event, now_);
    auto expect = [&](bool ok, const std::string& what) { Check(ok, what, effects); };
    const std::vector<OpView> ops = core_->Operations();
    const Strings registered = core_->Resources();

    for (size_t i = 0; i < effects.size(); ++i) {
      const Effect& effect = effects[i];
      expect(!stale || std::holds_alternative<LogMessage>(effect), "a stale event did something");
      if (const auto* assigned = std::get_if<CallAssigned>(&effect)) {
        expect(std::holds_alternative<Exec>(event) && i == 0, "CallAssigned out of place");
        expect(assigned->call_id > last_call_, "call ids not increasing");
        last_call_ = assigned->call_id;
        const ActionRequest& request = std::get<Exec>(event).request;
        calls_[last_call_].recurring = !request.resource.id.empty() && !request.action.empty() &&
                                       request.interval > absl::ZeroDuration();
      } else if (const auto* run = std::get_if<RunAgent>(&effect)) {
        expect(live_.count(run->run_id) == 0 && finished_.count(run->run_id) == 0,
               "a run id used twice");
        for (const auto& [id, other] : live_)
          expect(other.resource != run->request.resource.id, "two runs of one resource at once");
        live_[run->run_id] = LiveRun{.resource = run->request.resource.id, .call_id = run->call_id};
        expect(static_cast<int>(live_.size()) <= max_parallel_, "more than max_parallel running");
        expect(calls_.count(run->call_id) == 1 && !calls_[run->call_id].cancelled,
               "ran a call that is unknown or cancelled");
      } else if (const auto* kill = std::get_if<CancelRun>(&effect)) {
        auto it = live_.find(kill->run_id);
        expect(it != live_.end() && !it->second.killed, "killed a run not live, or twice");
        if (it != live_.end())
          it->second.killed = true;
      } else if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
        expect(arm->after > absl::ZeroDuration(), "armed a timer for no time");
        timers_[arm->key.call_id] = now_ + arm->after;
      } else if (const auto* cancel = std::get_if<CancelTimer>(&effect)) {
        expect(timers_.erase(cancel->key.call_id) == 1, "cancelled a timer that is not armed");
      } else if (const auto* report = std::get_if<Report>(&effect)) {
        const ActionResult& r = report->result;
        expect(calls_.count(r.call_id) == 1, "a report for an unknown call");
        Call& call = calls_[r.call_id];
        expect(!call.cancelled, "a report after the call's kCancelled report");
        expect(call.recurring || call.reports == 0, "a one-shot call reported twice");
        expect(!call.recurring || call.reports > 0 || r.changed,
               "a recurring call's first report is not `changed`");
        expect(!call.recurring || r.changed || r.status == ExecStatus::kCancelled,
               "an unchanged recurring result reported");
        ++call.reports;
        call.cancelled = r.status == ExecStatus::kCancelled;
      }
    }

    // The core's view matches the runs and timers the driver holds.
    std::set<int64_t> scheduled;
    std::map<int64_t, bool> running;  // run id -> cancelling
    std::map<std::string, int> live_per_resource;
    for (const OpView& op : ops) {
      if (op.state == OpState::kScheduled)
        scheduled.insert(op.call_id);
      if (op.state == OpState::kRunning || op.state == OpState::kCancelling) {
        running[op.run_id] = op.state == OpState::kCancelling;
        ++live_per_resource[op.resource_id];
      }
      if (op.state != OpState::kCancelling)
        expect(std::count(registered.begin(), registered.end(), op.resource_id) == 1,
               "an operation of an unregistered resource");
      auto call = calls_.find(op.call_id);
      expect(call != calls_.end() && !call->second.cancelled,
             "an operation unknown or left after its kCancelled");
    }
    std::set<int64_t> armed;
    for (const auto& [call_id, deadline] : timers_)
      armed.insert(call_id);
    expect(armed == scheduled, "timers armed for operations not scheduled (or missing)");
    std::map<int64_t, bool> model;
    for (const auto& [run_id, run] : live_)
      model[run_id] = run.killed;
    expect(model == running, "the core's runs differ from the live ones");
    expect(core_->running() == static_cast<int>(live_.size()), "running() is wrong");
    for (const auto& [resource, n] : live_per_resource)
      expect(n == 1, "two runs of " + resource);
    // Work-conserving: a queued operation waits for its resource or for a slot.
    for (const OpView& op : ops) {
      if (op.state == OpState::kQueued)
        expect(live_per_resource.count(op.resource_id) == 1 ||
                   static_cast<int>(live_.size()) == max_parallel_,
               "an operation waits for nothing");
    }
  }

  std::mt19937 rng_;
  const Strings resources_ = {"a", "b", "c", "d", "e"};
  int max_parallel_ = 1;
  int finish_weight_ = 0;  // per mille of events that end a run
  int cancel_weight_ = 0;  // per mille of events that cancel something
  std::unique_ptr<ExecutorCore> core_;
  absl::Time now_ = absl::UnixEpoch();
  int step_ = 0;
  int64_t last_call_ = 0;
  std::map<int64_t, Call> calls_;
  std::map<int64_t, LiveRun> live_;       // runs by run id
  std::set<int64_t> finished_;            // run ids whose AgentFinished was fed
  std::map<int64_t, absl::Time> timers_;  // armed, by call id: deadline
  std::string error_;
};

TEST_CASE("random event sequences keep the invariants") {
  ha::testing::RunSeeds("HA_LRMD_SEED", 3000, [](uint32_t seed) { return RandomRun(seed).Run(); });
}

}  // namespace
}  // namespace ha::lrmd
