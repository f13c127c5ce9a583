// The pure parts of crm_resource (tools/crm_resource.cc): parsing its arguments (agent specs,
// NAME=VALUE options, Pacemaker's time values) and wording its results as Pacemaker's
// crm_resource does, with Pacemaker's exit codes (crm_exit_t). Nothing here talks to lrmd.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/lrmd.pb.h"

namespace ha::crm_resource {

// The exit codes crm_resource uses: Pacemaker's crm_exit_t values. 0-9 are the OCF exit codes
// (the --force-* and --validate commands exit with the agent's code, as Pacemaker's do).
enum class CrmExit : int {
  kOk = 0,
  kError = 1,             // generic error (also an OCF_ERR_GENERIC result)
  kUsage = 64,            // bad command line
  kConfig = 78,           // the cluster configuration cannot be read
  kInsufficientPriv = 4,  // lrmd refused the caller
  kDisconnect = 102,      // lrmd is not running or cannot be reached ("Not connected")
  kNoSuch = 105,          // no such agent or provider ("No such object")
  kUnsafe = 107,          // the resource id is lrmd's for another agent ("Operation not safe")
  kTimeout = 124,         // lrmd did not answer in time
};

constexpr int ToInt(CrmExit code) {
  return static_cast<int>(code);
}

// Pacemaker's crm_exit_str() for the codes above and the OCF codes 0-9.
absl::string_view CrmExitText(int code);

// Pacemaker's services_ocf_exitcode_str(): "ok", "error", "not running", ...
absl::string_view OcfExitCodeText(int code);

// Pacemaker's pcmk_exec_status_str(): "Done", "Timed out", "Not installed", ...
absl::string_view ExecStatusText(ha::lrmd::v1::ExecStatus status);

// "class:provider:type" for OCF, "class:type" for the other classes (Pacemaker's
// crm_parse_agent_spec). InvalidArgument when a part is missing or empty.
absl::StatusOr<ha::lrmd::v1::AgentId> ParseAgentSpec(absl::string_view spec);

// --list-agents' "STD" or "STD:PROVIDER": {class, provider}.
std::pair<std::string, std::string> ParseStandardSpec(absl::string_view spec);

// "class[:provider]:type", as Pacemaker prints an agent.
std::string AgentName(const ha::lrmd::v1::AgentId& agent);

// A time as Pacemaker's crm_get_msec() reads it: a whole number with an optional unit (ms, msec,
// us, usec, s, sec, m, min, h, hr); no unit means seconds. In milliseconds; InvalidArgument for
// anything else, for 0, and for more than 2^32-1 ms.
absl::StatusOr<uint32_t> ParseTimeMs(absl::string_view text);

// --option's "NAME=VALUE" (NAME not empty; VALUE may be, and may contain '=').
absl::StatusOr<std::pair<std::string, std::string>> ParseNameValue(absl::string_view text);

// The lrmd action a command runs: force-start -> start, force-stop -> stop, force-check ->
// monitor, force-promote -> promote, force-demote -> demote, validate -> validate-all. Empty for
// anything else.
absl::string_view LrmdAction(absl::string_view command);

// The line Pacemaker prints for a result. `name` is the resource's name, or empty when none was
// given. When the agent ran (EXEC_DONE):
//   Operation <command> [for <name>] (<agent>) returned <code> (<text>[: <exit reason>])
// otherwise (`is_error` is set: Pacemaker prints it on stderr):
//   Operation <command> [for <name>] (<agent>) could not be executed (<status>[: <exit reason>])
struct ResultLine {
  std::string text;
  bool is_error = false;
};
ResultLine FormatResult(absl::string_view command,
                        absl::string_view name,
                        const ha::lrmd::v1::ActionResult& result);

// The exit code for a call to lrmd that failed with `status`: UNAVAILABLE 102, DEADLINE_EXCEEDED
// 124, PERMISSION_DENIED 4, NOT_FOUND 105, INVALID_ARGUMENT 64, FAILED_PRECONDITION 107, else 1.
CrmExit ExitForRpcError(const absl::Status& status);

}  // namespace ha::crm_resource
