// Debian's resource agents (resource-agents, pacemaker-resource-agents) run through
// BuildAgentCommand + PosixProcessRunner + MapExitCode on a real event loop. A case whose agent is
// not installed is skipped with a warning.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lrmd/agent_command.h"
#include "lrmd/agent_metadata.h"
#include "lrmd/process_runner.h"

namespace ha::lrmd {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/lrmd-agents-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = absl::StrCat("rm -rf '", path_, "'");
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
  std::string File(const std::string& name) const { return absl::StrCat(path_, "/", name); }

 private:
  std::string path_;
};

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// One resource of a real agent, driven action by action.
class AgentHarness {
 public:
  AgentHarness(std::string provider, std::string type, std::map<std::string, std::string> params)
      : runner_(*(loop_ = MakeLoop()), clock_) {
    spec_.id = absl::StrCat("lrmd-test-", type, "-", getpid());
    spec_.agent_class = AgentClass::kOcf;
    spec_.provider = std::move(provider);
    spec_.type = std::move(type);
    spec_.params = std::move(params);
  }

  std::string AgentPath() const {
    return absl::StrCat(paths_.ocf_root, "/resource.d/", spec_.provider, "/", spec_.type);
  }
  bool Installed() const { return Exists(AgentPath()); }
  // meta-data runs as `user` from now on (AgentPaths::unprivileged).
  void RunMetadataAs(RunAs user) { paths_.unprivileged = std::move(user); }

  ActionResult Do(const std::string& action,
                  absl::Duration interval = absl::ZeroDuration(),
                  absl::Duration timeout = absl::Seconds(20)) {
    ActionRequest req;
    req.resource = spec_;
    req.action = action;
    req.interval = interval;
    req.timeout = timeout;
    absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, paths_);
    REQUIRE(cmd.ok());
    std::optional<ProcessOutcome> outcome;
    runner_.Run(*cmd, timeout, [&](ProcessOutcome o) {
      outcome = std::move(o);
      loop_->Stop();
    });
    bool guard_fired = false;
    EventLoop::TimerId guard = loop_->AddTimer(absl::Seconds(30), [&] {
      guard_fired = true;
      loop_->Stop();
    });
    loop_->Run();
    loop_->CancelTimer(guard);
    REQUIRE_FALSE(guard_fired);
    REQUIRE(outcome.has_value());
    ActionResult result = MakeActionResult(req, *cmd, *outcome);
    UNSCOPED_INFO(spec_.provider << ":" << spec_.type << " " << action << " -> raw "
                                 << result.raw_exit_code << ", reason '" << result.exit_reason
                                 << "', stderr: " << result.stderr_tail);
    return result;
  }

  // Runs an action expected to finish with `expected`.
  void Expect(const std::string& action, OcfExitCode expected) {
    ActionResult r = Do(action);
    INFO(action << ": status " << static_cast<int>(r.status) << " raw " << r.raw_exit_code
                << " stderr " << r.stderr_tail);
    CHECK(r.status == ExecStatus::kDone);
    CHECK(r.exit_code == expected);
  }

  absl::StatusOr<AgentMetadata> Metadata() {
    ActionResult r = Do("meta-data", absl::ZeroDuration(), absl::Seconds(5));
    REQUIRE(r.status == ExecStatus::kDone);
    REQUIRE(r.exit_code == OcfExitCode::kOk);
    return ParseAgentMetadata(r.stdout_tail);
  }

 private:
  static std::unique_ptr<EventLoop> MakeLoop() {
    auto loop = CreateQbEventLoop();
    REQUIRE(loop.ok());
    return std::move(*loop);
  }

  std::unique_ptr<EventLoop> loop_;
  RealClock clock_;
  PosixProcessRunner runner_;
  AgentPaths paths_;
  ResourceSpec spec_;
};

#define SKIP_UNLESS_INSTALLED(harness)                                   \
  do {                                                                   \
    if (!(harness).Installed()) {                                        \
      WARN("skipped: " << (harness).AgentPath() << " is not installed"); \
      return;                                                            \
    }                                                                    \
  } while (0)

void CheckMetadata(AgentHarness& agent, const std::string& name) {
  absl::StatusOr<AgentMetadata> md = agent.Metadata();
  INFO(md.status().ToString());
  REQUIRE(md.ok());
  CHECK(md->name == name);
  CHECK_FALSE(md->parameters.empty());
  CHECK_FALSE(md->actions.empty());
  REQUIRE(md->FindAction("start") != nullptr);
  CHECK(md->FindAction("start")->timeout > absl::ZeroDuration());
}

TEST_CASE("ocf:heartbeat:Dummy start, monitor, lost state, stop", "[agents]") {
  TempDir tmp;
  std::string state = tmp.File("dummy.state");
  AgentHarness dummy("heartbeat", "Dummy", {{"state", state}});
  SKIP_UNLESS_INSTALLED(dummy);

  absl::StatusOr<AgentMetadata> md = dummy.Metadata();
  REQUIRE(md.ok());
  CHECK(md->name == "Dummy");
  REQUIRE(md->FindAction("start") != nullptr);
  CHECK(md->FindAction("start")->timeout == absl::Seconds(20));
  CHECK(md->FindParameter("state") != nullptr);

  dummy.Expect("monitor", OcfExitCode::kNotRunning);  // a probe before anything ran
  dummy.Expect("start", OcfExitCode::kOk);
  CHECK(Exists(state));
  dummy.Expect("monitor", OcfExitCode::kOk);
  REQUIRE(unlink(state.c_str()) == 0);
  dummy.Expect("monitor", OcfExitCode::kNotRunning);
  dummy.Expect("start", OcfExitCode::kOk);
  dummy.Expect("stop", OcfExitCode::kOk);
  dummy.Expect("monitor", OcfExitCode::kNotRunning);
  dummy.Expect("stop", OcfExitCode::kOk);  // stopping a stopped resource succeeds
}

TEST_CASE("ocf:pacemaker:Dummy start, monitor, stop", "[agents]") {
  TempDir tmp;
  std::string state = tmp.File("pcmk-dummy.state");
  AgentHarness dummy("pacemaker", "Dummy", {{"state", state}});
  SKIP_UNLESS_INSTALLED(dummy);
  CheckMetadata(dummy, "Dummy");
  dummy.Expect("start", OcfExitCode::kOk);
  dummy.Expect("monitor", OcfExitCode::kOk);
  REQUIRE(unlink(state.c_str()) == 0);
  dummy.Expect("monitor", OcfExitCode::kNotRunning);
  dummy.Expect("stop", OcfExitCode::kOk);
}

TEST_CASE("ocf:pacemaker:Stateful promote and demote", "[agents]") {
  TempDir tmp;
  AgentHarness stateful("pacemaker", "Stateful", {{"state", tmp.File("stateful.state")}});
  SKIP_UNLESS_INSTALLED(stateful);
  CheckMetadata(stateful, "Stateful");
  stateful.Expect("start", OcfExitCode::kOk);
  stateful.Expect("monitor", OcfExitCode::kOk);
  stateful.Expect("promote", OcfExitCode::kOk);
  stateful.Expect("monitor", OcfExitCode::kRunningPromoted);
  stateful.Expect("demote", OcfExitCode::kOk);
  stateful.Expect("monitor", OcfExitCode::kOk);
  stateful.Expect("stop", OcfExitCode::kOk);
  stateful.Expect("monitor", OcfExitCode::kNotRunning);
}

TEST_CASE("ocf:heartbeat:Delay start takes its delay", "[agents]") {
  AgentHarness delay(
      "heartbeat", "Delay", {{"startdelay", "1"}, {"stopdelay", "0"}, {"mondelay", "0"}});
  SKIP_UNLESS_INSTALLED(delay);
  CheckMetadata(delay, "Delay");
  ActionResult start = delay.Do("start");
  CHECK(start.status == ExecStatus::kDone);
  CHECK(start.exit_code == OcfExitCode::kOk);
  CHECK(start.duration >= absl::Seconds(1));
  delay.Expect("monitor", OcfExitCode::kOk);
  delay.Expect("stop", OcfExitCode::kOk);
  delay.Expect("monitor", OcfExitCode::kNotRunning);
}

TEST_CASE("ocf:heartbeat:Delay timing out is a timeout", "[agents]") {
  AgentHarness delay(
      "heartbeat", "Delay", {{"startdelay", "30"}, {"stopdelay", "0"}, {"mondelay", "0"}});
  SKIP_UNLESS_INSTALLED(delay);
  ActionResult start = delay.Do("start", absl::ZeroDuration(), absl::Seconds(1));
  CHECK(start.status == ExecStatus::kTimedOut);
  CHECK(start.duration < absl::Seconds(10));
  delay.Expect("stop", OcfExitCode::kOk);
}

TEST_CASE("ocf:heartbeat:anything runs a daemon that outlives start", "[agents]") {
  TempDir tmp;
  std::string pidfile = tmp.File("anything.pid");
  AgentHarness anything("heartbeat",
                        "anything",
                        {{"binfile", "/bin/sleep"},
                         {"cmdline_options", "1000"},
                         {"pidfile", pidfile},
                         {"logfile", tmp.File("anything.log")}});
  SKIP_UNLESS_INSTALLED(anything);
  CheckMetadata(anything, "anything");
  anything.Expect("monitor", OcfExitCode::kNotRunning);
  anything.Expect("start", OcfExitCode::kOk);
  anything.Expect("monitor", OcfExitCode::kOk);
  pid_t daemon_pid = 0;
  {
    std::ifstream in(pidfile);
    in >> daemon_pid;
  }
  CHECK(daemon_pid > 0);
  anything.Expect("stop", OcfExitCode::kOk);
  anything.Expect("monitor", OcfExitCode::kNotRunning);
  if (daemon_pid > 0 && kill(daemon_pid, 0) == 0) {
    FAIL_CHECK("the daemon survived stop");
    kill(daemon_pid, SIGKILL);
  }
}

TEST_CASE("Debian's agents print their meta-data as the cluster user", "[agents]") {
  if (geteuid() != 0) {
    WARN("skipped: switching users needs root");
    return;
  }
  absl::StatusOr<RunAs> user = ResolveClusterUser("");
  REQUIRE(user.ok());
  const std::pair<const char*, const char*> kAgents[] = {
      {"heartbeat", "Dummy"},
      {"heartbeat", "IPaddr2"},
      {"heartbeat", "Filesystem"},
      {"heartbeat", "apache"},
      {"heartbeat", "anything"},
      {"heartbeat", "LVM-activate"},
      {"pacemaker", "Dummy"},
      {"pacemaker", "Stateful"},
      {"pacemaker", "ping"},
  };
  for (const auto& [provider, type] : kAgents) {
    AgentHarness agent(provider, type, {});
    if (!agent.Installed())
      continue;
    INFO(provider << ":" << type << " as " << user->name);
    agent.RunMetadataAs(*user);
    absl::StatusOr<AgentMetadata> md = agent.Metadata();
    REQUIRE(md.ok());
    CHECK(md->name == type);
    CHECK_FALSE(md->actions.empty());
  }
}

}  // namespace
}  // namespace ha::lrmd
