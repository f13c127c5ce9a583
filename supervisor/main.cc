// haclusterd: the node's supervisor. Starts the stack's daemons in dependency order, respawns a
// daemon that dies (within limits), stops them in reverse order on SIGTERM, and reports their
// states on <run_dir>/haclusterd.sock.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/daemon_runtime.h"
#include "supervisor/supervisor_driver.h"

namespace {

// $HA_DAEMON_DIR, else the folder of this executable (the daemons are installed beside it).
std::string DaemonDir() {
  if (const char* env = getenv("HA_DAEMON_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "-c" || std::string(argv[i]) == "--config") {
      config_path = std::filesystem::absolute(argv[i + 1]).string();
    }
  }
  return ha::RunDaemonMain("haclusterd", argc, argv, [&](ha::DaemonRuntime& rt) {
    ha::supervisor::DriverOptions options;
    options.daemon_dir = DaemonDir();
    if (rt.config().system.membership_provider == ha::config::MembershipProvider::kCorosync) {
      // A Corosync already running on the node carries the groups and quorum.
      std::erase(options.daemons, "membershipd");
    }
    options.config_path = config_path.empty() ? ha::kDefaultConfigPath : config_path;
    if (const char* env = getenv("HA_CONFIG"); config_path.empty() && env != nullptr) {
      options.config_path = std::filesystem::absolute(env).string();
    }
    // This start of the stack, inherited by every daemon: stonithd names its incarnation in the
    // stonithd group with it, so that a fenced node's stack is refused until it is started anew
    // (a respawned daemon of the same stack is still the fenced one).
    const std::string stack =
        absl::StrCat(getpid(), "-", absl::ToUnixNanos(rt.clock().WallNow()) & 0xffffffffffffLL);
    setenv("HA_STACK_INCARNATION", stack.c_str(), 1);
    auto* driver = rt.Adopt(std::make_unique<ha::supervisor::SupervisorDriver>(rt, options));
    rt.AddService(driver);
    return driver->Start();
  });
}
