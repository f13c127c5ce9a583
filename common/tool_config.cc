#include "common/tool_config.h"

#include "common/daemon_runtime.h"
#include "config/cluster_config.h"

namespace ha {

absl::StatusOr<std::string> ResolveRunDir(const std::string& config_path,
                                          const std::string& run_dir,
                                          const char* env_config) {
  if (!run_dir.empty()) {
    return run_dir;
  }
  std::string path = config_path;
  if (path.empty()) {
    path = env_config != nullptr && *env_config != '\0' ? env_config : kDefaultConfigPath;
  }
  absl::StatusOr<config::LoadedConfig> loaded = config::LoadClusterConfigFile(path);
  if (!loaded.ok()) {
    return loaded.status();
  }
  return loaded->config.system.run_dir;
}

}  // namespace ha
