// The stonith class: fence devices as resources, the way Pacemaker's executor handles them. Their
// start, stop and monitor go to the fencer (stonithd's Fencer API, proto/stonithd.proto), which
// holds the device and runs its agent:
//  - start registers the device with stonithd under the resource's id (the agent and the
//    resource's parameters), then asks stonithd to monitor it (MonitorDevice);
//  - stop unregisters it (a device that is not registered is stopped already);
//  - monitor (and LSB's status) is "not running" for a device stonithd does not hold, else
//    stonithd's MonitorDevice.
// meta-data and validate-all run the agent directly, as for the other classes; a legacy
// cluster-glue plugin type runs through the adapter stonithd uses (stonithd/agent_type.h).
//
// Pure functions here; lrmd/fencer_client.h makes the calls.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lrmd/action.h"
#include "lrmd/agent_command.h"

namespace ha::lrmd {

// What lrmd asks the fencer for one action.
struct FencerCall {
  enum Kind {
    kStart,       // RegisterDevice(id, agent, parameters) (not for a CIB device), MonitorDevice(id)
    kUnregister,  // UnregisterDevice(id) (not for a CIB device)
    kMonitor,     // whether ListDevices holds `id`; if so, MonitorDevice(id)
  };
  Kind kind = kMonitor;
  std::string device_id;
  std::string agent;
  std::map<std::string, std::string> parameters;
  // The action's timeout: the deadline of the calls, all of them together.
  absl::Duration timeout = absl::Seconds(20);
};

// The fencer call a stonith-class action makes: start, stop, monitor (and its LSB name status).
// nullopt for the actions that run the agent (meta-data, validate-all) or that a fence device
// does not have.
std::optional<FencerCall> FencerCallFor(const ActionRequest& request);

// What the fencer answered, when the calls went through.
struct FencerAnswer {
  // Whether stonithd holds the device (kMonitor, kStart): false when ListDevices does not list it
  // or MonitorDevice says NOT_FOUND (removed meanwhile).
  bool registered = true;
  // MonitorDevice's verdict on the device (Device.status: "ok", "failed", "unknown"; empty for
  // kUnregister) and stonithd's reason for a failure (Device.status_reason).
  std::string device_status;
  std::string status_reason;
};

// An action's result.
struct FencerResult {
  ExecStatus status = ExecStatus::kDone;
  OcfExitCode exit_code = OcfExitCode::kOk;
  std::string reason;
};

// The action's result from what the fencer answered, as Pacemaker's executor maps the fencer's:
//  - monitor: not registered is kNotRunning; start: kErrInstalled (Pacemaker's "no such device");
//  - MonitorDevice "ok" is kOk; "failed" (or "unknown") kError with stonithd's reason;
//  - unregister: OK and NOT_FOUND (not registered) are kOk;
//  - register: NOT_FOUND (agent not installed) is kNotInstalled / kErrInstalled;
//    INVALID_ARGUMENT (a bad parameter) kErrConfigured;
//  - for all: UNAVAILABLE (stonithd not running) is kNotConnected; DEADLINE_EXCEEDED (the
//    action's timeout) kTimedOut; PERMISSION_DENIED kErrPerm; anything else kError. The reason
//    names the call and gives the fencer's message.
FencerResult MapFencerOutcome(const FencerCall& call, const absl::StatusOr<FencerAnswer>& outcome);

// The fence agent's stdin for `fence_action` (metadata, validate-all): "action=...", then
// "plugin=..." for the legacy adapter when `plugin` is not empty (a configured `plugin`
// parameter is then dropped), then the resource's parameters as "name=value" lines, except
// Pacemaker's pcmk_* parameters (for the fencer, not the agent). InvalidArgument for a name with
// '=' or a newline, or a value with a newline (either would inject other arguments).
absl::StatusOr<std::string> FenceAgentStdin(const std::string& fence_action,
                                            const std::map<std::string, std::string>& params,
                                            const std::string& plugin = "");

// The command that runs a stonith resource's agent for `request`: meta-data (action=metadata, as
// the unprivileged user) and validate-all. The program is what stonithd would run for the type
// (stonithd::ResolveAgent): `fence_agents.bin_dir`/TYPE, or the legacy adapter with plugin=TYPE.
// NotFound when it is not installed; Unimplemented for the actions that go to the fencer and
// those fence devices lack.
absl::StatusOr<AgentCommand> BuildStonithAgentCommand(const ActionRequest& request,
                                                      const AgentPaths& paths);

// Whether a fence agent's stderr says it has no such action ("Unrecognised action" of fencing.py,
// "unsupported action" of the legacy adapter): Pacemaker's fencing library reads that as "not
// supported" (stonith__result2rc), not as a failure.
bool FenceAgentLacksAction(const std::string& stderr_text);

}  // namespace ha::lrmd
