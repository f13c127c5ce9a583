// What to execute for an action: pure functions that turn an ActionRequest into a command line and
// an environment (OCF resource agent API 1.1, LSB init scripts, systemd units), and that map what
// the process returned back onto OCF exit codes. Nothing here touches processes (see
// process_runner.h for that); only an LSB script's meta-data reads the script's head (and a
// stonith type is looked up in the fence agents' and plugins' folders).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lrmd/action.h"
#include "stonithd/agent_type.h"

namespace ha::lrmd {

// True when systemd is the init system (/run/systemd/system is a directory), as sd_booted() checks.
bool SystemdIsRunning();

// A user an agent runs as instead of lrmd's own: its uid and primary gid (supplementary groups
// are dropped).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // for logs and errors
};

// The user `name` from the password database. NotFound when there is none.
absl::StatusOr<RunAs> LookupUser(const std::string& name);

// The cluster user agents run as where they need no privileges: `configured` when not empty (an
// error when it does not exist), else "hacluster" when it exists, else "nobody". NotFound when
// none of them exists.
absl::StatusOr<RunAs> ResolveClusterUser(const std::string& configured);

// Where agents live and what every agent's environment starts from. Injectable for tests.
struct AgentPaths {
  std::string ocf_root = "/usr/lib/ocf";
  std::string init_dir = "/etc/init.d";
  std::string systemctl = "/usr/bin/systemctl";
  // Where stonith resources' agents are, found as stonithd finds them (bin_dir: fence_*).
  stonithd::AgentDirs fence_agents;
  // Where ListAgents looks for systemd service units (the system manager's unit search path),
  // when systemd runs.
  std::vector<std::string> systemd_unit_dirs = {"/etc/systemd/system",
                                                "/run/systemd/system",
                                                "/usr/local/lib/systemd/system",
                                                "/usr/lib/systemd/system",
                                                "/lib/systemd/system"};
  // KEY=VALUE entries every agent gets (PATH, LANG, ...). Variables set by BuildAgentCommand win
  // over entries with the same key here.
  std::vector<std::string> base_env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  // Decides what class "service" resolves to: systemd when true, else LSB.
  std::function<bool()> systemd_running = SystemdIsRunning;
  // Agents run as root only where needed: meta-data (a description, which needs nothing) runs as
  // this user when set. Everything else (start, stop, monitor, promote, ..., and validate-all,
  // whose checks of binaries, files and devices would fail or lie without root) runs as lrmd's
  // own user. Unset: everything runs as lrmd's user. REQUIRES: lrmd runs as root when set.
  std::optional<RunAs> unprivileged;
};

struct AgentCommand {
  std::string path;               // the executable
  std::vector<std::string> argv;  // argv[0] is `path`
  std::vector<std::string> env;   // KEY=VALUE: the agent's whole environment
  std::string stdin_data;         // fed on stdin; empty: stdin is /dev/null
  // The class actually run ("service" resolved to LSB or systemd); pass it to MapExitCode.
  AgentClass agent_class = AgentClass::kOcf;
  std::string action;  // the requested action (before LSB's monitor -> status)
  // LSB and systemd have no meta-data action: it is made up here and nothing is executed. The
  // runner then completes at once, exit 0, with `synthesized_output` as stdout.
  bool synthesized_metadata = false;
  std::string synthesized_output;
  // Set: the runner switches to this user (groups, gid, uid) in the child before exec.
  std::optional<RunAs> run_as;
};

// Builds the command for `request`. InvalidArgument for names that could leave the agent folder
// (a '/', "..", a leading '.'), an action or unit starting with '-', parameter or meta names that
// are not [A-Za-z0-9_-]+, or values containing NUL; Unimplemented for an action the class has no
// command for (systemd supports start, stop, monitor, status and meta-data); NotFound for an LSB
// script's meta-data when the script cannot be read (its INIT INFO block describes it).
absl::StatusOr<AgentCommand> BuildAgentCommand(const ActionRequest& request,
                                               const AgentPaths& paths);

// The systemd unit a resource type names: ".service" is appended unless it has a unit suffix.
std::string SystemdUnitName(const std::string& type);

// Maps a raw exit status onto OCF's codes. `agent_class` is the class that ran (never kService;
// it is treated as LSB).
//  - OCF: 0-9 as they are, anything else kErrGeneric.
//  - LSB status/monitor: 0 kOk; 1 (dead, pid file left), 2 (dead, lock file left), 3 kNotRunning;
//    Pacemaker's 150 kErrInstalled and 151 kErrPerm; 4 (unknown) and anything else kErrGeneric.
//    Other LSB actions: 0-7 as the same OCF codes (the LSB spec gives them the same meanings), as
//    Pacemaker maps them, except that 7 ("not running") is kOk for stop (stopping a stopped
//    service succeeds, as the LSB spec asks of stop); anything else kErrGeneric.
//  - stonith (a fence agent run for validate-all or meta-data): 0 kOk, anything else
//    kErrGeneric (MakeActionResult: kErrUnimplemented when the agent lacks the action).
//  - systemd monitor (is-active): 0 kOk, anything else kNotRunning; status (systemctl status,
//    LSB-style codes) as LSB status; start/stop: 0 kOk, 5 (no such unit) kErrInstalled, anything
//    else kErrGeneric.
OcfExitCode MapExitCode(AgentClass agent_class, const std::string& action, int raw);

// The agent's reason for a failure: the text after the last "ocf-exit-reason:" (what
// ocf-shellfuncs prints, Pacemaker's prefix) or "ocf-exitreason:" at the start of a
// line of `stderr_text`, trimmed and cut to at most 128 bytes (on a UTF-8 boundary). Empty when
// there is none.
std::string ParseExitReason(const std::string& stderr_text);

inline constexpr size_t kMaxExitReasonBytes = 128;

}  // namespace ha::lrmd
