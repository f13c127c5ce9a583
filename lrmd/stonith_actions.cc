#include "lrmd/stonith_actions.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ha::lrmd {
namespace {

const char* CallName(FencerCall::Kind kind) {
  switch (kind) {
    case FencerCall::kRegister:
      return "registering the device with stonithd";
    case FencerCall::kUnregister:
      return "unregistering the device from stonithd";
    case FencerCall::kIsRegistered:
      return "asking stonithd for the device";
  }
  return "calling stonithd";
}

FencerStepResult Done(ExecStatus status, OcfExitCode code, std::string reason = "") {
  FencerStepResult result;
  result.status = status;
  result.exit_code = code;
  result.reason = std::move(reason);
  return result;
}

}  // namespace

std::optional<FencerCall> FencerCallFor(const ActionRequest& request) {
  FencerCall call;
  const std::string& action = request.action;
  if (action == "start")
    call.kind = FencerCall::kRegister;
  else if (action == "stop")
    call.kind = FencerCall::kUnregister;
  else if (action == "monitor" || action == "status")
    call.kind = FencerCall::kIsRegistered;
  else
    return std::nullopt;
  call.device_id = request.resource.id;
  call.agent = request.resource.type;
  call.parameters = request.resource.params;
  call.timeout = request.timeout;
  return call;
}

FencerStepResult MapFencerOutcome(const FencerCall& call, const absl::StatusOr<bool>& outcome) {
  if (outcome.ok()) {
    if (call.kind == FencerCall::kUnregister)
      return Done(ExecStatus::kDone, OcfExitCode::kOk);
    if (call.kind == FencerCall::kIsRegistered && !*outcome)
      return Done(ExecStatus::kDone,
                  OcfExitCode::kNotRunning,
                  absl::StrCat("device ", call.device_id, " is not registered with stonithd"));
    FencerStepResult next;
    next.proceed = true;
    return next;
  }
  const absl::Status& status = outcome.status();
  std::string reason = absl::StrCat(CallName(call.kind), ": ", status.message());
  if (absl::IsNotFound(status) && call.kind == FencerCall::kUnregister)
    return Done(ExecStatus::kDone, OcfExitCode::kOk);  // stopped already
  if (absl::IsNotFound(status) && call.kind == FencerCall::kRegister)
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
                                            const std::map<std::string, std::string>& params) {
  std::string text = absl::StrCat("action=", fence_action, "\n");
  for (const auto& [name, value] : params) {
    if (name.empty() || absl::StrContains(name, '=') || absl::StrContains(name, '\n') ||
        absl::StrContains(name, '\0'))
      return absl::InvalidArgumentError(absl::StrCat("parameter name '", name, "' is not usable"));
    if (absl::StrContains(value, '\n') || absl::StrContains(value, '\0'))
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", name, " has a newline or a NUL in its value"));
    if (absl::StartsWith(name, "pcmk_") || name == "action")
      continue;  // for the fencer; "action" is ours to set
    absl::StrAppend(&text, name, "=", value, "\n");
  }
  return text;
}

absl::StatusOr<AgentCommand> BuildStonithAgentCommand(const ActionRequest& request,
                                                      const AgentPaths& paths) {
  const std::string& type = request.resource.type;
  if (type.empty() || absl::StrContains(type, '/') || type[0] == '.' || type[0] == '-')
    return absl::InvalidArgumentError(absl::StrCat("fence agent '", type, "' is not a name"));
  std::string fence_action;
  const std::string& action = request.action;
  if (action == "meta-data")
    fence_action = "metadata";
  else if (action == "validate-all")
    fence_action = "validate-all";
  else if (action == "start" || action == "monitor" || action == "status")
    fence_action = "monitor";
  else
    return absl::UnimplementedError(
        absl::StrCat("stonith resources have no agent action for '", action, "'"));
  AgentCommand cmd;
  cmd.agent_class = AgentClass::kStonith;
  cmd.action = action;
  cmd.path = absl::StrCat(paths.fence_agent_dir, "/", type);
  cmd.argv = {cmd.path};
  cmd.env = paths.base_env;
  absl::StatusOr<std::string> stdin_text = FenceAgentStdin(fence_action, request.resource.params);
  if (!stdin_text.ok())
    return stdin_text.status();
  cmd.stdin_data = *std::move(stdin_text);
  if (action == "meta-data")
    cmd.run_as = paths.unprivileged;
  return cmd;
}

}  // namespace ha::lrmd
