#include "lrmd/stonith_actions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ha::lrmd {
namespace {

const char* CallName(FencerCall::Kind kind) {
  switch (kind) {
    case FencerCall::kStart:
      return "starting the device through stonithd";
    case FencerCall::kUnregister:
      return "unregistering the device from stonithd";
    case FencerCall::kMonitor:
      return "monitoring the device through stonithd";
  }
  return "calling stonithd";
}

FencerResult Done(ExecStatus status, OcfExitCode code, std::string reason = "") {
  return FencerResult{status, code, std::move(reason)};
}

}  // namespace

std::optional<FencerCall> FencerCallFor(const ActionRequest& request) {
  FencerCall call;
  const std::string& action = request.action;
  if (action == "start")
    call.kind = FencerCall::kStart;
  else if (action == "stop")
    call.kind = FencerCall::kUnregister;
  else if (action == "monitor" || action == "status")
    call.kind = FencerCall::kMonitor;
  else
    return std::nullopt;
  call.device_id = request.resource.id;
  call.agent = request.resource.type;
  call.parameters = request.resource.params;
  call.timeout = request.timeout;
  return call;
}

FencerResult MapFencerOutcome(const FencerCall& call, const absl::StatusOr<FencerAnswer>& outcome) {
  if (outcome.ok()) {
    if (call.kind == FencerCall::kUnregister)
      return Done(ExecStatus::kDone, OcfExitCode::kOk);
    if (!outcome->registered) {
      std::string reason =
          absl::StrCat("device ", call.device_id, " is not registered with stonithd");
      // Pacemaker's executor: "no such device" is not running for a monitor, not installed for
      // a start (it was removed between the registration and the monitor).
      if (call.kind == FencerCall::kMonitor)
        return Done(ExecStatus::kDone, OcfExitCode::kNotRunning, std::move(reason));
      return Done(ExecStatus::kError, OcfExitCode::kErrInstalled, std::move(reason));
    }
    if (outcome->device_status == "ok")
      return Done(ExecStatus::kDone, OcfExitCode::kOk);
    std::string reason = outcome->status_reason;
    if (reason.empty())
      reason =
          absl::StrCat("stonithd reports the device's status as '", outcome->device_status, "'");
    return Done(ExecStatus::kError, OcfExitCode::kErrGeneric, std::move(reason));
  }
  const absl::Status& status = outcome.status();
  std::string reason = absl::StrCat(CallName(call.kind), ": ", status.message());
  if (absl::IsNotFound(status) && call.kind == FencerCall::kUnregister)
    return Done(ExecStatus::kDone, OcfExitCode::kOk);  // stopped already
  if (absl::IsNotFound(status) && call.kind == FencerCall::kStart)
    return Done(ExecStatus::kNotInstalled, OcfExitCode::kErrInstalled, std::move(reason));
  if (absl::IsInvalidArgument(status))
    return Done(ExecStatus::kDone, OcfExitCode::kErrConfigured, std::move(reason));
  if (absl::IsUnavailable(status))
    return Done(
        ExecStatus::kNotConnected,
        OcfExitCode::kErrGeneric,
        absl::StrCat(CallName(call.kind), ": stonithd is not reachable (", status.message(), ")"));
  if (absl::IsDeadlineExceeded(status))
    return Done(ExecStatus::kTimedOut, OcfExitCode::kErrGeneric, std::move(reason));
  if (absl::IsPermissionDenied(status) || absl::IsUnauthenticated(status))
    return Done(ExecStatus::kDone, OcfExitCode::kErrPerm, std::move(reason));
  return Done(ExecStatus::kError, OcfExitCode::kErrGeneric, std::move(reason));
}

absl::StatusOr<std::string> FenceAgentStdin(const std::string& fence_action,
                                            const std::map<std::string, std::string>& params,
                                            const std::string& plugin) {
  std::string text = absl::StrCat("action=", fence_action, "\n");
  if (!plugin.empty())
    absl::StrAppend(&text, "plugin=", plugin, "\n");
  for (const auto& [name, value] : params) {
    if (name.empty() || absl::StrContains(name, '=') || absl::StrContains(name, '\n') ||
        absl::StrContains(name, '\0'))
      return absl::InvalidArgumentError(absl::StrCat("parameter name '", name, "' is not usable"));
    if (absl::StrContains(value, '\n') || absl::StrContains(value, '\0'))
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", name, " has a newline or a NUL in its value"));
    if (absl::StartsWith(name, "pcmk_") || name == "action" ||
        (!plugin.empty() && name == "plugin"))
      continue;  // for the fencer; "action" (and the adapter's "plugin") are ours to set
    absl::StrAppend(&text, name, "=", value, "\n");
  }
  return text;
}

absl::StatusOr<AgentCommand> BuildStonithAgentCommand(const ActionRequest& request,
                                                      const AgentPaths& paths) {
  std::string fence_action;
  const std::string& action = request.action;
  if (action == "meta-data")
    fence_action = "metadata";
  else if (action == "validate-all")
    fence_action = "validate-all";
  else
    return absl::UnimplementedError(
        absl::StrCat("stonith resources have no agent action for '", action, "'"));
  const std::string& type = request.resource.type;
  if (absl::Status installed = stonithd::CheckAgentInstalled(type, paths.fence_agents);
      !installed.ok())
    return installed;
  absl::StatusOr<stonithd::AgentExecutable> exe = stonithd::ResolveAgent(type, paths.fence_agents);
  if (!exe.ok())
    return exe.status();
  AgentCommand cmd;
  cmd.agent_class = AgentClass::kStonith;
  cmd.action = action;
  cmd.path = std::move(exe->path);
  cmd.argv = {cmd.path};
  cmd.env = paths.base_env;
  absl::StatusOr<std::string> stdin_text =
      FenceAgentStdin(fence_action, request.resource.params, exe->plugin);
  if (!stdin_text.ok())
    return stdin_text.status();
  cmd.stdin_data = *std::move(stdin_text);
  if (action == "meta-data")
    cmd.run_as = paths.unprivileged;
  return cmd;
}

bool FenceAgentLacksAction(const std::string& stderr_text) {
  const std::string lower = absl::AsciiStrToLower(stderr_text);
  return absl::StrContains(lower, "unrecognised action") ||
         absl::StrContains(lower, "unrecognized action") ||
         absl::StrContains(lower, "unsupported action");
}

}  // namespace ha::lrmd
