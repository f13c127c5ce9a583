// Running fence agents (Debian's fence-agents: /usr/sbin/fence_*) the way Pacemaker's fencer
// does (the FenceAgentAPI of ClusterLabs/fence-agents, doc/FenceAgentAPI.md):
//  - the agent gets its arguments as "name=value" lines on stdin, no command-line arguments:
//    action= (after pcmk_<action>_action), nodename= (the target's node name), the target's
//    port as pcmk_host_argument names it ("port" or "plug"; the pcmk_host_map alias, else the
//    node name; not when that parameter is configured, unless its value is "dynamic"), then the
//    device's parameters except pcmk_* and meta attributes;
//  - exit 0 is success; for status, 0 means on, 2 off, 1 unknown (an error);
//  - it runs with lrmd's ProcessRunner: its own process group, killed (the group) on timeout,
//    output kept bounded.
// Legacy STONITH plugins (cluster-glue's, `stonith -L`) run through the same interface: the
// adapter agents/stonith/fence_legacy_glue (a fence agent, installed beside them) gets the
// plugin's type as `plugin=TYPE` on its stdin and calls cluster-glue's `stonith` command
// (stonithd/agent_type.h says which types are plugins).
// The agent's meta-data (action=metadata) is XML: <resource-agent> with <parameters> and
// <actions>, parsed here for what the fencer needs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lrmd/action.h"
#include "lrmd/agent_command.h"
#include "lrmd/process_runner.h"
#include "stonithd/agent_type.h"
#include "stonithd/fence_device.h"

namespace ha::stonithd {

struct FenceAgentMetadata {
  struct Parameter {
    std::string name;
    std::string type;  // <content type=...>
    std::string default_value;
    bool required = false;
    bool deprecated = false;
    std::string obsoletes;  // the older parameter this one replaces
    std::string shortdesc;
  };
  struct Action {
    std::string name;
    bool automatic = false;  // "on" with automatic="1" (or required="1"): unfencing
    bool on_target = false;  // must be run on the target itself
  };
  std::string name;
  std::string shortdesc;
  std::vector<Parameter> parameters;
  std::vector<Action> actions;
  std::string raw_xml;

  bool HasAction(std::string_view action) const;
  const Parameter* FindParameter(std::string_view name) const;
  AgentCapabilities Capabilities() const;
};

// InvalidArgument when `xml` is not well-formed or its root is not <resource-agent>.
absl::StatusOr<FenceAgentMetadata> ParseFenceAgentMetadata(absl::string_view xml);

// Whether a parameter is a secret, shown as "****" (password, passwd, and what the agent's
// meta-data types as a password).
bool IsSecretParameter(std::string_view name);

// Where agents are (stonithd/agent_type.h: which types are legacy plugins) and their base
// environment.
struct FenceAgentPaths : AgentDirs {
  std::vector<std::string> base_env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"};
};

// The stdin of an agent run: `action` is the fencer's action (off, on, reboot, status, list,
// monitor, metadata), mapped through pcmk_<action>_action; `target` is empty for device-level
// actions (list, monitor, metadata). InvalidArgument when a name or value holds a newline or a
// name an '=' (it would inject other arguments). `plugin`, when not empty, is passed as
// `plugin=` after the action (the legacy adapter's plugin type; a configured `plugin` parameter
// is then dropped).
absl::StatusOr<std::string> BuildAgentStdin(const FenceDevice& device,
                                            std::string_view action,
                                            std::string_view target,
                                            std::string_view plugin = {});

// The command for running `action` of `device` against `target` (a legacy plugin's through the
// adapter, with plugin=TYPE).
absl::StatusOr<lrmd::AgentCommand> BuildFenceCommand(const FenceDevice& device,
                                                     std::string_view action,
                                                     std::string_view target,
                                                     const FenceAgentPaths& paths);
// The command for an agent's meta-data (action=metadata, no device).
absl::StatusOr<lrmd::AgentCommand> BuildMetadataCommand(std::string_view agent,
                                                        const FenceAgentPaths& paths);

// What a target's power state is, from a status action.
enum class PowerState { kUnknown, kOn, kOff };

// The outcome of one agent run. `status` says how the execution went (lrmd's vocabulary); the
// exit code is meaningful when it is kDone.
struct FenceResult {
  std::string action;  // the fencer's action that was run
  lrmd::ExecStatus status = lrmd::ExecStatus::kError;
  int exit_code = -1;
  PowerState power = PowerState::kUnknown;  // status action only
  std::string reason;                       // one line, for failures
  std::string stdout_tail;
  std::string stderr_tail;
  absl::Duration duration = absl::ZeroDuration();

  // The action did what it was asked: exit 0 (status: 0 on or 2 off, the device can see it).
  bool ok() const;
};

// Maps a finished process onto a FenceResult for `action`. The reason of a failure is the last
// "ERROR:"/"Failed:" line of stderr (without fencing.py's timestamp), else a description of the
// exit (code, signal, timeout).
FenceResult MakeFenceResult(std::string_view action, const lrmd::ProcessOutcome& outcome);

// Runs fence agent actions on a ProcessRunner (the loop's thread only, like the runner).
class FenceAgentRunner {
 public:
  using RunId = lrmd::ProcessRunner::RunId;
  using Done = absl::AnyInvocable<void(FenceResult)>;

  // `runner` must outlive this object.
  FenceAgentRunner(lrmd::ProcessRunner& runner, FenceAgentPaths paths)
      : runner_(runner), paths_(std::move(paths)) {}

  // Runs `action` of `device` (against `target`, empty for list/monitor), killed after
  // `timeout`. `done` is called once, from the loop, never from within Run. An error when the
  // command cannot be built (then `done` is not called).
  absl::StatusOr<RunId> Run(const FenceDevice& device,
                            std::string_view action,
                            std::string_view target,
                            absl::Duration timeout,
                            Done done);
  absl::StatusOr<RunId> RunMetadata(std::string_view agent, absl::Duration timeout, Done done);
  absl::Status Cancel(RunId id) { return runner_.Cancel(id); }

 private:
  absl::StatusOr<RunId> Start(lrmd::AgentCommand cmd,
                              std::string action,
                              absl::Duration timeout,
                              Done done);

  lrmd::ProcessRunner& runner_;
  FenceAgentPaths paths_;
};

}  // namespace ha::stonithd
