// lrmd: the local resource manager (issue 7). Runs resource agents for the controller and serves
// the ResourceManager API on its socket (lrmd/lrmd_driver.h).
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/daemon_runtime.h"
#include "common/logging.h"
#include "lrmd/lrmd_driver.h"
#include "lrmd/process_runner.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("lrmd", argc, argv, [](ha::DaemonRuntime& rt) {
    ha::lrmd::LrmdDriverOptions options;
    if (const char* ocf_root = std::getenv("OCF_ROOT"); ocf_root != nullptr && *ocf_root != '\0') {
      options.paths.ocf_root = ocf_root;
    }
    // LSB init scripts: /etc/init.d unless HA_LSB_INIT_DIR names another folder (tests).
    if (const char* dir = std::getenv("HA_LSB_INIT_DIR"); dir != nullptr && *dir != '\0') {
      options.paths.init_dir = dir;
      HA_LOG_INFO("main", "LSB init scripts from %s (HA_LSB_INIT_DIR)", dir);
    }
    // Stonith resources go to stonithd: its socket in the run folder unless HA_FENCER_SOCKET
    // names another; their agents (meta-data, validate-all) from /usr/sbin unless
    // HA_FENCE_AGENT_DIR says, as stonithd's.
    options.fencer_socket = ha::DaemonSocketPath(rt.config(), "stonithd");
    if (const char* socket = std::getenv("HA_FENCER_SOCKET"); socket != nullptr && *socket != '\0')
      options.fencer_socket = socket;
    if (const char* dir = std::getenv("HA_FENCE_AGENT_DIR"); dir != nullptr && *dir != '\0')
      options.paths.fence_agents.bin_dir = dir;
    // Agents run as root only where needed: meta-data runs as the cluster user (HA_CLUSTER_USER,
    // else hacluster, else nobody). An lrmd that is not root runs everything as itself.
    if (geteuid() == 0) {
      const char* user = std::getenv("HA_CLUSTER_USER");
      absl::StatusOr<ha::lrmd::RunAs> run_as =
          ha::lrmd::ResolveClusterUser(user != nullptr ? user : "");
      if (!run_as.ok())
        return absl::FailedPreconditionError(
            absl::StrCat("no user to run meta-data actions as: ", run_as.status().message()));
      HA_LOG_INFO("main",
                  "meta-data actions run as user %s | uid=%d gid=%d",
                  run_as->name,
                  run_as->uid,
                  run_as->gid);
      options.paths.unprivileged = *std::move(run_as);
    }
    // Agents carry this node's run folder as their owner tag: what a killed lrmd left running is
    // found and killed before this one serves.
    ha::lrmd::PosixProcessRunner::Options runner_options;
    runner_options.owner_tag = rt.config().system.run_dir;
    if (int orphans = ha::lrmd::KillOrphanedAgents(runner_options.owner_tag); orphans > 0)
      HA_LOG_WARN("main", "killed %d agent processes left running by a previous lrmd", orphans);
    // Adopted objects are destroyed in reverse: the driver first, then the runner, then the loop.
    auto* runner = rt.Adopt(
        std::make_unique<ha::lrmd::PosixProcessRunner>(rt.loop(), rt.clock(), runner_options));
    auto* driver =
        rt.Adopt(std::make_unique<ha::lrmd::LrmdDriver>(rt.loop(), rt.clock(), *runner, options));
    rt.AddService(driver);
    rt.SetStopHandler([&rt, driver] {
      driver->Stop();  // ends the WatchResults streams, so the server stops at once
      rt.RequestStop();
    });
    rt.SetState(ha::daemon::v1::SERVING, "");
    return absl::OkStatus();
  });
}
