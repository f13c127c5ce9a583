// lrmd: the local resource manager (issue 7). Runs resource agents for the controller and serves
// the ResourceManager API on its socket (lrmd/lrmd_driver.h).
#include <cstdlib>
#include <memory>

#include "common/daemon_runtime.h"
#include "lrmd/lrmd_driver.h"
#include "lrmd/process_runner.h"

int main(int argc, char** argv) {
  return ha::RunDaemonMain("lrmd", argc, argv, [](ha::DaemonRuntime& rt) {
    ha::lrmd::LrmdDriverOptions options;
    if (const char* ocf_root = std::getenv("OCF_ROOT"); ocf_root != nullptr && *ocf_root != '\0') {
      options.paths.ocf_root = ocf_root;
    }
    // Adopted objects are destroyed in reverse: the driver first, then the runner, then the loop.
    auto* runner = rt.Adopt(std::make_unique<ha::lrmd::PosixProcessRunner>(rt.loop(), rt.clock()));
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
