// Logging for every daemon, on libqb's qb_log: a log file and/or syslog with a facility, stderr in
// the foreground, timestamps, per-subsystem debug switches (from the configuration's logging and
// logger_subsys sections, from the HA_DEBUG environment variable, and at run time through
// SIGUSR1 or the DaemonControl.SetDebug call), and the flight recorder (qb's blackbox), which
// records everything down to trace level and is written out on a crash or on request.
//
// A line reads: "<time> <daemon>[<pid>] <priority> [<subsys>] <sentence> | key=value ..."
// Daemons log; command-line tools print and never log.
#pragma once

#include <syslog.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "config/cluster_config.h"

namespace ha::log {

// qb_log's trace level, one below LOG_DEBUG.
inline constexpr int kTrace = LOG_DEBUG + 1;

struct LogSetup {
  std::string daemon;  // the name on every line
  config::LoggingConfig config;
  std::string blackbox_dir;              // where flight-recorder dumps go
  bool to_stderr = false;                // foreground: also log to stderr
  std::optional<std::string> env_debug;  // the value of HA_DEBUG, if set
};

// Sets up qb_log's targets from `setup`. Call once, first thing in main.
absl::Status Init(const LogSetup& setup);
// Flushes and closes the targets.
void Shutdown();

// Logs one line. Subsystem names are lower-case words ("main", "ipc", "totem").
void Emit(const char* subsys, int priority, const char* file, int line, const std::string& text);

// Switches debug logging on or off for the named subsystems (all of them when empty) and returns
// the subsystems now logging at debug ("*" stands for all).
std::vector<std::string> SetDebug(const std::vector<std::string>& subsystems, bool enabled);
// What SIGUSR1 does: debug for everything if any is off, else back to the configured set.
std::vector<std::string> ToggleDebug();
std::vector<std::string> DebugSubsystems();

// Writes the flight recorder to a new file in the blackbox folder and returns its path.
absl::StatusOr<std::string> DumpBlackbox();
// Prints a flight-recorder file to stdout (for `hactl blackbox FILE`).
absl::Status PrintBlackboxFile(const std::string& path);

// Installs handlers that write the flight recorder on SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT,
// then let the signal kill the process as usual.
void InstallCrashDump();

// Parses HA_DEBUG's value ("yes"/"all"/"1", or names separated by commas) into the subsystem and
// daemon names it switches on; "*" means everything. Daemon names switch on all of that daemon.
std::vector<std::string> ParseDebugEnv(const std::string& value);

}  // namespace ha::log

#define HA_LOG(subsys, priority, ...) \
  ::ha::log::Emit(subsys, priority, __FILE__, __LINE__, ::absl::StrFormat(__VA_ARGS__))
#define HA_LOG_ERROR(subsys, ...) HA_LOG(subsys, LOG_ERR, __VA_ARGS__)
#define HA_LOG_WARN(subsys, ...) HA_LOG(subsys, LOG_WARNING, __VA_ARGS__)
#define HA_LOG_NOTICE(subsys, ...) HA_LOG(subsys, LOG_NOTICE, __VA_ARGS__)
#define HA_LOG_INFO(subsys, ...) HA_LOG(subsys, LOG_INFO, __VA_ARGS__)
#define HA_LOG_DEBUG(subsys, ...) HA_LOG(subsys, LOG_DEBUG, __VA_ARGS__)
#define HA_LOG_TRACE(subsys, ...) HA_LOG(subsys, ::ha::log::kTrace, __VA_ARGS__)
