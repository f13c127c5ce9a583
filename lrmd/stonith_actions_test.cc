#include "lrmd/stonith_actions.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "lrmd/agent_command.h"

namespace ha::lrmd {
namespace {

ActionRequest Fence(const std::string& action) {
  ActionRequest request;
  request.resource.id = "fence1";
  request.resource.agent_class = AgentClass::kStonith;
  request.resource.type = "fence_dummy";
  request.resource.params = {{"pcmk_host_list", "node9"}, {"status_file", "/tmp/s"}};
  request.action = action;
  request.timeout = absl::Seconds(7);
  return request;
}

TEST_CASE("FencerCallFor: start registers, stop unregisters, monitor asks", "[stonith]") {
  std::optional<FencerCall> start = FencerCallFor(Fence("start"));
  REQUIRE(start.has_value());
  CHECK(start->kind == FencerCall::kStart);
  CHECK(start->device_id == "fence1");
  CHECK(start->agent == "fence_dummy");
  CHECK(start->parameters.at("pcmk_host_list") == "node9");  // the fencer gets them all
  CHECK(start->timeout == absl::Seconds(7));                 // the calls' deadline
  CHECK(FencerCallFor(Fence("stop"))->kind == FencerCall::kUnregister);
  CHECK(FencerCallFor(Fence("monitor"))->kind == FencerCall::kMonitor);
  CHECK(FencerCallFor(Fence("monitor"))->timeout == absl::Seconds(7));
  CHECK(FencerCallFor(Fence("status"))->kind == FencerCall::kMonitor);
  CHECK_FALSE(FencerCallFor(Fence("meta-data")).has_value());
  CHECK_FALSE(FencerCallFor(Fence("validate-all")).has_value());
  CHECK_FALSE(FencerCallFor(Fence("promote")).has_value());
}

FencerAnswer Monitored(std::string status, std::string reason = "") {
  FencerAnswer answer;
  answer.device_status = std::move(status);
  answer.status_reason = std::move(reason);
  return answer;
}

FencerAnswer NotRegistered() {
  FencerAnswer answer;
  answer.registered = false;
  return answer;
}

TEST_CASE("MapFencerOutcome: MonitorDevice's verdict as Pacemaker's executor maps it",
          "[stonith]") {
  FencerCall start = *FencerCallFor(Fence("start"));
  FencerCall monitor = *FencerCallFor(Fence("monitor"));
  for (const FencerCall& call : {start, monitor}) {
    FencerResult fine = MapFencerOutcome(call, Monitored("ok"));
    CHECK(fine.status == ExecStatus::kDone);
    CHECK(fine.exit_code == OcfExitCode::kOk);
    CHECK(fine.reason.empty());
    FencerResult failed =
        MapFencerOutcome(call, Monitored("failed", "Unable to connect/login to fencing device"));
    CHECK(failed.status == ExecStatus::kError);
    CHECK(failed.exit_code == OcfExitCode::kErrGeneric);
    CHECK(failed.reason == "Unable to connect/login to fencing device");  // stonithd's reason
    FencerResult unknown = MapFencerOutcome(call, Monitored("unknown"));
    CHECK(unknown.status == ExecStatus::kError);
    CHECK(unknown.exit_code == OcfExitCode::kErrGeneric);
    CHECK(unknown.reason.find("unknown") != std::string::npos);
  }
  // Not registered: the device is not running; a start whose device vanished before its
  // monitor is "not installed", as Pacemaker's executor reads the fencer's "no such device".
  FencerResult absent = MapFencerOutcome(monitor, NotRegistered());
  CHECK(absent.status == ExecStatus::kDone);
  CHECK(absent.exit_code == OcfExitCode::kNotRunning);
  FencerResult vanished = MapFencerOutcome(start, NotRegistered());
  CHECK(vanished.status == ExecStatus::kError);
  CHECK(vanished.exit_code == OcfExitCode::kErrInstalled);
}

TEST_CASE("MapFencerOutcome: Pacemaker's results for the fencer's errors", "[stonith]") {
  FencerCall start = *FencerCallFor(Fence("start"));
  FencerCall unreg = *FencerCallFor(Fence("stop"));
  FencerCall monitor = *FencerCallFor(Fence("monitor"));

  FencerResult stopped = MapFencerOutcome(unreg, FencerAnswer());
  CHECK(stopped.status == ExecStatus::kDone);
  CHECK(stopped.exit_code == OcfExitCode::kOk);
  CHECK(MapFencerOutcome(unreg, absl::NotFoundError("no device")).exit_code == OcfExitCode::kOk);

  FencerResult missing = MapFencerOutcome(start, absl::NotFoundError("fence_x not installed"));
  CHECK(missing.status == ExecStatus::kNotInstalled);
  CHECK(missing.exit_code == OcfExitCode::kErrInstalled);
  CHECK(missing.reason.find("fence_x not installed") != std::string::npos);
  FencerResult bad = MapFencerOutcome(start, absl::InvalidArgumentError("bad pcmk_host_check"));
  CHECK(bad.status == ExecStatus::kDone);
  CHECK(bad.exit_code == OcfExitCode::kErrConfigured);
  for (const FencerCall& call : {start, unreg, monitor}) {
    FencerResult down = MapFencerOutcome(call, absl::UnavailableError("connect failed"));
    CHECK(down.status == ExecStatus::kNotConnected);
    CHECK(down.exit_code == OcfExitCode::kErrGeneric);
    CHECK(down.reason.find("stonithd is not reachable") != std::string::npos);
    FencerResult late = MapFencerOutcome(call, absl::DeadlineExceededError("Deadline Exceeded"));
    CHECK(late.status == ExecStatus::kTimedOut);
    CHECK(late.exit_code == OcfExitCode::kErrGeneric);
    CHECK(MapFencerOutcome(call, absl::PermissionDeniedError("")).exit_code ==
          OcfExitCode::kErrPerm);
    CHECK(MapFencerOutcome(call, absl::InternalError("")).status == ExecStatus::kError);
  }
}

TEST_CASE("FenceAgentStdin: the FenceAgentAPI's name=value lines", "[stonith]") {
  absl::StatusOr<std::string> text = FenceAgentStdin(
      "monitor",
      {{"pcmk_host_list", "n1"}, {"ipaddr", "10.0.0.1"}, {"action", "reboot"}, {"login", "a b"}});
  REQUIRE(text.ok());
  CHECK(*text == "action=monitor\nipaddr=10.0.0.1\nlogin=a b\n");
  CHECK(FenceAgentStdin("monitor", {{"ipaddr", "1\naction=off"}}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FenceAgentStdin("monitor", {{"a=b", "c"}}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FenceAgentStdin("monitor", {{"a\nb", "c"}}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // The legacy adapter's plugin= comes right after the action; a configured one is dropped.
  CHECK(*FenceAgentStdin("metadata", {{"hostlist", "a"}, {"plugin", "x"}}, "null") ==
        "action=metadata\nplugin=null\nhostlist=a\n");
  CHECK(*FenceAgentStdin("metadata", {{"plugin", "x"}}) == "action=metadata\nplugin=x\n");
}

// A folder tree as stonithd's legacy plugin tests make it: bin/ (fence agents, the adapter) and
// plugins/ (cluster-glue's layout).
struct FenceTree {
  std::filesystem::path root;
  AgentPaths paths;
  FenceTree() {
    char tmpl[] = "/tmp/lrmd-fence-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    paths.fence_agents.bin_dir = root / "bin";
    paths.fence_agents.legacy_plugin_dir = root / "plugins";
    std::filesystem::create_directories(root / "bin");
    std::filesystem::create_directories(root / "plugins/stonith2");
    std::filesystem::create_directories(root / "plugins/external");
    paths.base_env = {"PATH=/bin"};
    paths.unprivileged = RunAs{102, 105, "hacluster"};
  }
  ~FenceTree() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  void File(const std::string& path) {
    std::ofstream(root / path) << "#!/bin/sh\nexit 0\n";
    std::filesystem::permissions(root / path, std::filesystem::perms::owner_all);
  }
};

TEST_CASE("BuildAgentCommand: a stonith resource's meta-data and validate-all", "[stonith]") {
  FenceTree t;
  t.File("bin/fence_dummy");
  const std::string bin = t.paths.fence_agents.bin_dir;
  absl::StatusOr<AgentCommand> validate = BuildAgentCommand(Fence("validate-all"), t.paths);
  REQUIRE(validate.ok());
  CHECK(validate->path == bin + "/fence_dummy");
  CHECK(validate->argv == std::vector<std::string>{bin + "/fence_dummy"});
  CHECK(validate->stdin_data == "action=validate-all\nstatus_file=/tmp/s\n");
  CHECK(validate->agent_class == AgentClass::kStonith);
  CHECK_FALSE(validate->run_as.has_value());
  absl::StatusOr<AgentCommand> metadata = BuildAgentCommand(Fence("meta-data"), t.paths);
  REQUIRE(metadata.ok());
  CHECK(metadata->stdin_data.starts_with("action=metadata\n"));
  REQUIRE(metadata->run_as.has_value());
  CHECK(metadata->run_as->uid == 102);
  // start, stop and monitor are stonithd's: no agent runs for them here.
  for (const char* action : {"start", "stop", "monitor", "status", "promote"})
    CHECK(BuildAgentCommand(Fence(action), t.paths).status().code() ==
          absl::StatusCode::kUnimplemented);
  ActionRequest escape = Fence("meta-data");
  escape.resource.type = "../bin/sh";
  CHECK(BuildAgentCommand(escape, t.paths).status().code() == absl::StatusCode::kInvalidArgument);
  ActionRequest missing = Fence("meta-data");
  missing.resource.type = "fence_missing";
  CHECK(BuildAgentCommand(missing, t.paths).status().code() == absl::StatusCode::kNotFound);

  CHECK(MapExitCode(AgentClass::kStonith, "validate-all", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kStonith, "validate-all", 1) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kStonith, "validate-all", 7) == OcfExitCode::kErrGeneric);
}

TEST_CASE("BuildAgentCommand: a legacy plugin type runs through stonithd's adapter", "[stonith]") {
  FenceTree t;
  t.File("plugins/stonith2/null.so");
  t.File("plugins/stonith2/external.so");
  t.File("plugins/external/ssh");
  const std::string bin = t.paths.fence_agents.bin_dir;
  ActionRequest null = Fence("meta-data");
  null.resource.type = "null";
  null.resource.params = {{"hostlist", "a b"}, {"plugin", "other"}, {"pcmk_host_check", "none"}};
  // No adapter installed: not installed, whatever the plugin.
  CHECK(BuildAgentCommand(null, t.paths).status().code() == absl::StatusCode::kNotFound);
  t.File("bin/fence_legacy_glue");

  absl::StatusOr<AgentCommand> metadata = BuildAgentCommand(null, t.paths);
  REQUIRE(metadata.ok());
  CHECK(metadata->path == bin + "/fence_legacy_glue");
  CHECK(metadata->stdin_data == "action=metadata\nplugin=null\nhostlist=a b\n");
  CHECK(metadata->run_as.has_value());
  ActionRequest ssh = null;
  ssh.action = "validate-all";
  ssh.resource.type = "external/ssh";
  absl::StatusOr<AgentCommand> validate = BuildAgentCommand(ssh, t.paths);
  REQUIRE(validate.ok());
  CHECK(validate->path == bin + "/fence_legacy_glue");
  CHECK(validate->stdin_data == "action=validate-all\nplugin=external/ssh\nhostlist=a b\n");
  CHECK_FALSE(validate->run_as.has_value());

  ActionRequest gone = null;
  gone.resource.type = "external/missing";  // no such member of the family
  CHECK(BuildAgentCommand(gone, t.paths).status().code() == absl::StatusCode::kNotFound);
  gone.resource.type = "external/a/b";
  CHECK(BuildAgentCommand(gone, t.paths).status().code() == absl::StatusCode::kInvalidArgument);
  // A fence agent of the plugin's name wins, as in stonithd.
  t.File("bin/null");
  CHECK(BuildAgentCommand(null, t.paths)->path == bin + "/null");
}

TEST_CASE("FenceAgentLacksAction: the agents' words for an action they do not have", "[stonith]") {
  CHECK(FenceAgentLacksAction("2024-01-01 ERROR: Failed: Unrecognised action 'validate-all'\n"));
  CHECK(FenceAgentLacksAction("ERROR: unsupported action 'validate-all'\n"));
  CHECK(FenceAgentLacksAction("Unrecognized action"));
  CHECK_FALSE(FenceAgentLacksAction("ERROR: Failed: Unable to connect/login to fencing device\n"));
  CHECK_FALSE(FenceAgentLacksAction(""));
}

}  // namespace
}  // namespace ha::lrmd
