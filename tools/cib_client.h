// What the tools that talk to cibd share (cibadmin, crm_simulate -L): Pacemaker's exit codes for
// the Cib API's errors, and reading the live CIB.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ha::cib_client {

// Pacemaker's crm_exit_t values cibadmin exits with.
enum class CibExit : int {
  kOk = 0,
  kError = 1,
  kInsufficientPriv = 4,  // ACLs refused (EACCES)
  kUsage = 64,
  kDataErr = 65,      // the XML given on the command line does not parse
  kNoInput = 66,      // the XML file cannot be read
  kConfig = 78,       // invalid against the schema / invalid request (pcmk_rc_schema_validation)
  kDisconnect = 102,  // cibd not running
  kOld = 103,         // version conflict (pcmk_rc_old_data)
  kNoSuch = 105,      // no such object (ENXIO)
  kQuorum = 106,      // no quorum
  kUnsafe = 107,      // --erase without --force
  kExists = 108,      // the object exists (EEXIST)
  kTimeout = 124,
};

constexpr int ToInt(CibExit code) {
  return static_cast<int>(code);
}

// The exit code for a Cib call that failed with `status` (cib.proto's codes).
CibExit ExitForStatus(const absl::Status& status);

// Pacemaker's crm_exit_str() for those codes.
absl::string_view ExitText(CibExit code);

// The whole CIB of the node whose sockets are in `run_dir` (Query, not local).
absl::StatusOr<std::string> QueryLiveCib(const std::string& run_dir,
                                         absl::Duration timeout = absl::Seconds(10));

}  // namespace ha::cib_client
