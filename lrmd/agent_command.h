// What to execute for an action: pure functions that turn an ActionRequest into a command line and
// an environment (OCF resource agent API 1.1, LSB init scripts, systemd units), and that map what
// the process returned back onto OCF exit codes. Nothing here touches processes; see
// process_runner.h for that.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lrmd/action.h"

namespace ha::lrmd {

// True when systemd is the init system (/run/systemd/system is a directory), as sd_booted() checks.
bool SystemdIsRunning();

// Where agents live and what every agent's environment starts from. Injectable for tests.
struct AgentPaths {
  std::string ocf_root = "/usr/lib/ocf";
  std::string init_dir = "/etc/init.d";
  std::string systemctl = "/usr/bin/systemctl";
  // KEY=VALUE entries every agent gets (PATH, LANG, ...). Variables set by BuildAgentCommand win
  // over entries with the same key here.
  std::vector<std::string> base_env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  // Decides what class "service" resolves to: systemd when true, else LSB.
  std::function<bool()> systemd_running = SystemdIsRunning;
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
};

// Builds the command for `request`. InvalidArgument for names that could leave the agent folder
// (a '/', "..", a leading '.'), an action or unit starting with '-', parameter or meta names that
// are not [A-Za-z0-9_-]+, or values containing NUL; Unimplemented for an action the class has no
// command for (systemd supports start, stop, monitor, status and meta-data).
absl::StatusOr<AgentCommand> BuildAgentCommand(const ActionRequest& request,
                                               const AgentPaths& paths);

// The systemd unit a resource type names: ".service" is appended unless it has a unit suffix.
std::string SystemdUnitName(const std::string& type);

// Maps a raw exit status onto OCF's codes. `agent_class` is the class that ran (never kService;
// it is treated as LSB).
//  - OCF: 0-9 as they are, anything else kErrGeneric.
//  - LSB status/monitor: 0 kOk; 1, 2, 3 kNotRunning; anything else kErrGeneric. Other LSB actions:
//    0 kOk; 1-6 as the same OCF codes (the LSB spec gives them the same meanings); 7 ("not
//    running") is kOk for stop (stopping a stopped service succeeds) and kErrGeneric otherwise;
//    anything else kErrGeneric.
//  - systemd monitor (is-active): 0 kOk, anything else kNotRunning; status (systemctl status,
//    LSB-style codes) as LSB status; start/stop: 0 kOk, anything else kErrGeneric.
OcfExitCode MapExitCode(AgentClass agent_class, const std::string& action, int raw);

// The agent's reason for a failure: the text after the last "ocf-exit-reason:" (what
// ocf-shellfuncs prints, Pacemaker's prefix) or "ocf-exitreason:" at the start of a
// line of `stderr_text`, trimmed and cut to at most 128 bytes (on a UTF-8 boundary). Empty when
// there is none.
std::string ParseExitReason(const std::string& stderr_text);

inline constexpr size_t kMaxExitReasonBytes = 128;

}  // namespace ha::lrmd
