#include "lrmd/stonith_actions.h"

#include <catch2/catch.hpp>

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
  CHECK(start->kind == FencerCall::kRegister);
  CHECK(start->device_id == "fence1");
  CHECK(start->agent == "fence_dummy");
  CHECK(start->parameters.at("pcmk_host_list") == "node9");  // the fencer gets them all
  CHECK(start->timeout == absl::Seconds(7));
  CHECK(FencerCallFor(Fence("stop"))->kind == FencerCall::kUnregister);
  CHECK(FencerCallFor(Fence("monitor"))->kind == FencerCall::kIsRegistered);
  CHECK(FencerCallFor(Fence("status"))->kind == FencerCall::kIsRegistered);
  CHECK_FALSE(FencerCallFor(Fence("meta-data")).has_value());
  CHECK_FALSE(FencerCallFor(Fence("validate-all")).has_value());
  CHECK_FALSE(FencerCallFor(Fence("promote")).has_value());
}

TEST_CASE("MapFencerOutcome: Pacemaker's results for the fencer's answers", "[stonith]") {
  FencerCall reg = *FencerCallFor(Fence("start"));
  FencerCall unreg = *FencerCallFor(Fence("stop"));
  FencerCall ask = *FencerCallFor(Fence("monitor"));

  CHECK(MapFencerOutcome(reg, true).proceed);
  CHECK(MapFencerOutcome(ask, true).proceed);
  FencerStepResult absent = MapFencerOutcome(ask, false);
  CHECK_FALSE(absent.proceed);
  CHECK(absent.status == ExecStatus::kDone);
  CHECK(absent.exit_code == OcfExitCode::kNotRunning);
  FencerStepResult stopped = MapFencerOutcome(unreg, true);
  CHECK_FALSE(stopped.proceed);
  CHECK(stopped.exit_code == OcfExitCode::kOk);
  CHECK(MapFencerOutcome(unreg, absl::NotFoundError("no device")).exit_code == OcfExitCode::kOk);

  FencerStepResult missing = MapFencerOutcome(reg, absl::NotFoundError("fence_x not installed"));
  CHECK(missing.status == ExecStatus::kNotInstalled);
  CHECK(missing.exit_code == OcfExitCode::kErrInstalled);
  CHECK(missing.reason.find("fence_x not installed") != std::string::npos);
  FencerStepResult bad = MapFencerOutcome(reg, absl::InvalidArgumentError("id of a CIB device"));
  CHECK(bad.status == ExecStatus::kDone);
  CHECK(bad.exit_code == OcfExitCode::kErrConfigured);
  for (const FencerCall& call : {reg, unreg, ask}) {
    FencerStepResult down = MapFencerOutcome(call, absl::UnavailableError("connect failed"));
    CHECK_FALSE(down.proceed);
    CHECK(down.status == ExecStatus::kNotConnected);
    CHECK(down.reason.find("stonithd is not reachable") != std::string::npos);
    CHECK(MapFencerOutcome(call, absl::DeadlineExceededError("")).status == ExecStatus::kTimedOut);
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
}

TEST_CASE("BuildAgentCommand: a stonith resource's agent runs", "[stonith]") {
  AgentPaths paths;
  paths.fence_agent_dir = "/fence";
  paths.base_env = {"PATH=/bin"};
  paths.unprivileged = RunAs{102, 105, "hacluster"};
  absl::StatusOr<AgentCommand> monitor = BuildAgentCommand(Fence("monitor"), paths);
  REQUIRE(monitor.ok());
  CHECK(monitor->path == "/fence/fence_dummy");
  CHECK(monitor->argv == std::vector<std::string>{"/fence/fence_dummy"});
  CHECK(monitor->stdin_data == "action=monitor\nstatus_file=/tmp/s\n");
  CHECK(monitor->agent_class == AgentClass::kStonith);
  CHECK_FALSE(monitor->run_as.has_value());
  // start ends with the agent's monitor, as in Pacemaker.
  CHECK(BuildAgentCommand(Fence("start"), paths)->stdin_data ==
        "action=monitor\nstatus_file=/tmp/s\n");
  CHECK(BuildAgentCommand(Fence("validate-all"), paths)->stdin_data ==
        "action=validate-all\nstatus_file=/tmp/s\n");
  absl::StatusOr<AgentCommand> metadata = BuildAgentCommand(Fence("meta-data"), paths);
  REQUIRE(metadata.ok());
  CHECK(metadata->stdin_data.starts_with("action=metadata\n"));
  REQUIRE(metadata->run_as.has_value());
  CHECK(metadata->run_as->uid == 102);
  CHECK(BuildAgentCommand(Fence("stop"), paths).status().code() ==
        absl::StatusCode::kUnimplemented);
  ActionRequest escape = Fence("monitor");
  escape.resource.type = "../bin/sh";
  CHECK(BuildAgentCommand(escape, paths).status().code() == absl::StatusCode::kInvalidArgument);

  CHECK(MapExitCode(AgentClass::kStonith, "monitor", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kStonith, "monitor", 1) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kStonith, "monitor", 7) == OcfExitCode::kErrGeneric);
}

}  // namespace
}  // namespace ha::lrmd
