// The supervisor's driver: applies the SupervisorCore's effects to the real world (fork/exec of
// the daemons with a ready pipe, signals, timers on the event loop), feeds it events (SIGCHLD
// exits, ready lines, timers, SIGTERM, the Shutdown call), and serves the Supervisor API.
#pragma once

#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/daemon_runtime.h"
#include "common/event_pump.h"
#include "proto/supervisor.grpc.pb.h"
#include "supervisor/supervisor_core.h"

namespace ha::supervisor {

// The node's daemons, in dependency (start) order, as pacemakerd orders its children.
const std::vector<std::string>& StackDaemons();

struct DriverOptions {
  std::string daemon_dir;   // where the daemon binaries are
  std::string config_path;  // passed to each daemon as -c
  std::vector<std::string> daemons = StackDaemons();
};

class SupervisorDriver final : public v1::Supervisor::Service {
 public:
  // REQUIRES: `rt` outlives the driver; the driver runs on rt's loop.
  SupervisorDriver(DaemonRuntime& rt, DriverOptions options);
  ~SupervisorDriver() override;

  // Installs SIGCHLD and SIGTERM handling and starts the stack once the loop runs.
  absl::Status Start();

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*, v1::StatusResponse*) override;
  grpc::Status Shutdown(grpc::ServerContext*,
                        const v1::ShutdownRequest*,
                        v1::ShutdownResponse*) override;

 private:
  // Hands `event` to the core through the pump (common/event_pump.h).
  void Feed(Event event);
  void Apply(const Effect& effect);
  void Spawn(const std::string& daemon);
  void ReapChildren();
  void OnReadyPipe(const std::string& daemon, int fd);
  void PublishSnapshot();

  DaemonRuntime& rt_;
  DriverOptions options_;
  SupervisorCore core_;
  std::map<std::string, EventLoop::TimerId> timers_;  // by "daemon/kind"
  std::map<pid_t, std::string> pids_;
  std::map<std::string, int> ready_fds_;
  EventPump<Event> pump_{[this](const Event& event) {
    for (const Effect& effect : core_.Handle(event, rt_.clock().MonotonicNow())) {
      Apply(effect);
    }
    PublishSnapshot();
  }};
  absl::Mutex mu_;
  v1::StatusResponse snapshot_
      ABSL_GUARDED_BY(mu_);  // what Status() answers, refreshed after events
};

}  // namespace ha::supervisor
