// What the command-line tools share to find a node: its run folder (the daemons' sockets).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ha {

// The node's run folder: `run_dir` when given, else the configuration's system.run_dir, the
// configuration being `config_path`, else `env_config` ($HA_CONFIG), else the default path.
// Errors are the configuration loader's (tools exit with the configuration code on them).
absl::StatusOr<std::string> ResolveRunDir(const std::string& config_path,
                                          const std::string& run_dir,
                                          const char* env_config);

}  // namespace ha
