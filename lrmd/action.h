// The vocabulary of the local resource manager: what to run (a resource and an action on it) and
// what came of it. Results are values (an OCF exit code and an execution status), separate from
// absl::Status, which is kept for "the call itself failed". Mirrors proto/lrmd.proto.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"

namespace ha::lrmd {

// OCF resource agent API 1.1 exit codes.
enum class OcfExitCode : int {
  kOk = 0,
  kErrGeneric = 1,
  kErrArgs = 2,
  kErrUnimplemented = 3,
  kErrPerm = 4,
  kErrInstalled = 5,
  kErrConfigured = 6,
  kNotRunning = 7,
  kRunningPromoted = 8,
  kFailedPromoted = 9,
};

// How the execution went, independent of what the agent said.
enum class ExecStatus {
  kPending,       // not finished yet (recurring operations between runs)
  kDone,          // the agent ran and exited; its exit code is meaningful
  kCancelled,     // cancelled before or while running
  kTimedOut,      // killed after its timeout
  kNotSupported,  // the agent does not support this action
  kError,         // could not be run (fork/exec failed, bad request)
  kNotInstalled,  // the agent does not exist or is not executable
  kNotConnected,  // a service the action needs is unreachable (stonith: stonithd)
};

// Resource classes, as Pacemaker names them. kStonith is a fence device: its start, stop and
// monitor go to stonithd (see lrmd/stonith_actions.h).
enum class AgentClass { kOcf, kLsb, kSystemd, kService, kStonith };

struct ResourceSpec {
  std::string id;  // the resource's id in the CIB
  AgentClass agent_class = AgentClass::kOcf;
  std::string provider;                       // OCF only ("heartbeat", "pacemaker", ...)
  std::string type;                           // the agent's name, init script or unit
  std::map<std::string, std::string> params;  // instance attributes -> OCF_RESKEY_<name>
};

struct ActionRequest {
  ResourceSpec resource;
  std::string action;                              // start, stop, monitor, promote, ... meta-data
  absl::Duration interval = absl::ZeroDuration();  // > 0: recurring (monitor)
  absl::Duration timeout = absl::Seconds(20);
  std::map<std::string, std::string> meta;  // -> OCF_RESKEY_CRM_meta_<name>
};

struct ActionResult {
  int64_t call_id = 0;
  std::string resource_id;
  std::string action;
  absl::Duration interval = absl::ZeroDuration();
  ExecStatus status = ExecStatus::kPending;
  OcfExitCode exit_code = OcfExitCode::kErrGeneric;  // meaningful when status == kDone
  int raw_exit_code = -1;                            // what the process returned, before mapping
  std::string exit_reason;                           // the agent's "ocf-exitreason:" line
  std::string stdout_tail;                           // bounded
  std::string stderr_tail;                           // bounded
  absl::Time started = absl::InfinitePast();         // wall clock
  absl::Duration duration = absl::ZeroDuration();
  bool changed = false;  // recurring: differs from the previous run (or is the first)
};

}  // namespace ha::lrmd
