// The stonith class: fence devices as resources, the way Pacemaker's executor handles them. Their
// start, stop and monitor are forwarded to the fencer (stonithd's Fencer API,
// proto/stonithd.proto):
//  - start registers the device with stonithd under the resource's id (the agent and the
//    resource's parameters), then runs the agent's monitor action;
//  - stop unregisters it (a device that is not registered is stopped already);
//  - monitor answers "not running" for a device stonithd does not hold, else runs the agent's
//    monitor action.
// Deviation from Pacemaker: its fencer runs the agent's monitor action for the executor; our
// Fencer API has no call for that, so lrmd runs it itself, with the same stdin protocol
// (FenceAgentAPI: "name=value" lines) as stonithd. meta-data (action=metadata) and validate-all
// run the agent directly as well, as for the other classes.
//
// Pure functions here; lrmd/fencer_client.h makes the calls.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lrmd/action.h"
#include "lrmd/agent_command.h"

namespace ha::lrmd {

// One call to the fencer.
struct FencerCall {
  enum Kind {
    kRegister,      // RegisterDevice(id, agent, parameters)
    kUnregister,    // UnregisterDevice(id)
    kIsRegistered,  // whether ListDevices holds `id` (registered through the API)
  };
  Kind kind = kIsRegistered;
  std::string device_id;
  std::string agent;
  std::map<std::string, std::string> parameters;
  absl::Duration timeout = absl::Seconds(20);
};

// The fencer call a stonith-class action starts with: start, stop, monitor (and its LSB name
// status). nullopt for the actions that only run the agent (meta-data, validate-all) or that a
// fence device does not have.
std::optional<FencerCall> FencerCallFor(const ActionRequest& request);

// What came of the fencer call: either go on and run the agent's command (`proceed`), or the
// action's result.
struct FencerStepResult {
  bool proceed = false;
  ExecStatus status = ExecStatus::kDone;
  OcfExitCode exit_code = OcfExitCode::kOk;
  std::string reason;
};

// Maps the outcome of `call` (the call's value: for kIsRegistered whether the device is
// registered; otherwise true) onto the action's next step:
//  - register: OK proceeds (to the monitor); NOT_FOUND (agent not installed) is kNotInstalled /
//    kErrInstalled; INVALID_ARGUMENT (a bad parameter, or the id of a CIB device) kErrConfigured;
//  - unregister: OK and NOT_FOUND (not registered) are kOk;
//  - is-registered: true proceeds (to the monitor), false is kNotRunning;
//  - for all: UNAVAILABLE (stonithd not running) is kNotConnected; DEADLINE_EXCEEDED kTimedOut;
//    PERMISSION_DENIED kErrPerm; anything else kError. The reason names the call and the
//    fencer's message.
FencerStepResult MapFencerOutcome(const FencerCall& call, const absl::StatusOr<bool>& outcome);

// The fence agent's stdin for `fence_action` (monitor, metadata, validate-all): "action=..." then
// the resource's parameters as "name=value" lines, except Pacemaker's pcmk_* parameters (for the
// fencer, not the agent). InvalidArgument for a name with '=' or a newline, or a value with a
// newline (either would inject other arguments).
absl::StatusOr<std::string> FenceAgentStdin(const std::string& fence_action,
                                            const std::map<std::string, std::string>& params);

// The command that runs a stonith resource's agent for `request`: meta-data (action=metadata, as
// the unprivileged user), validate-all, and the monitor that start and monitor end with. The
// agent is `paths.fence_agent_dir`/TYPE. Unimplemented for stop and actions fence devices lack.
absl::StatusOr<AgentCommand> BuildStonithAgentCommand(const ActionRequest& request,
                                                      const AgentPaths& paths);

}  // namespace ha::lrmd
