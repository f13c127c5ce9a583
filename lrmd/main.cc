// lrmd: the local resource manager (issue 7). Runs resource agents for the controller and serves
// the ResourceManager API on its socket (lrmd/lrmd_driver.h).
#include <cstdlib>
#include <memory>

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
