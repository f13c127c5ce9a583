// Exit codes of every daemon and tool, with their meaning to the supervisor and to systemd.
#pragma once

namespace ha {

enum class ExitCode : int {
  kOk = 0,
  kError = 1,    // a failure worth a respawn
  kUsage = 64,   // bad command line (sysexits EX_USAGE)
  kConfig = 78,  // bad configuration (sysexits EX_CONFIG): respawning cannot help
  kFatal = 100,  // fatal: the supervisor must not respawn, and stops the node's stack
};

constexpr int ToInt(ExitCode code) {
  return static_cast<int>(code);
}

}  // namespace ha
