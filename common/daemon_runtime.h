// What every daemon of the stack does the same way: command line (-c FILE, -n NODEID, -t, -f),
// configuration, logging and flight recorder, the event loop with its signals (SIGTERM/SIGINT stop,
// SIGUSR1 toggles debug, SIGUSR2 dumps the flight recorder), the gRPC server on
// <run_dir>/<daemon>.sock with the DaemonControl service, and the ready notification to the
// supervisor (a line on the pipe named by HA_READY_FD, like systemd's sd_notify).
//
// A daemon's main builds its logic on this and stays a few dozen lines:
//   return ha::RunDaemonMain("cibd", argc, argv, [](ha::DaemonRuntime& rt) { ...; return Ok; });
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/grpc_unix_server.h"
#include "config/cluster_config.h"
#include "proto/daemon.grpc.pb.h"

namespace ha {

inline constexpr char kDefaultConfigPath[] = "/etc/corosync/corosync.conf";
inline constexpr char kVersion[] = "0.1.0";

struct DaemonArgs {
  std::string config_path;
  std::optional<uint32_t> nodeid;
  bool check_only = false;  // -t: check the configuration and exit
  bool foreground = false;  // -f: also log to stderr
};

// Parses a daemon's command line. Returns the arguments, or the exit code when the command line
// was handled (--help, --version) or wrong (a usage message is printed).
std::variant<DaemonArgs, int> ParseDaemonArgs(const std::string& daemon, int argc, char** argv);

// `-t`: loads and checks the configuration, prints warnings and the verdict, returns the exit code.
int CheckConfigAndExit(const std::string& daemon, const DaemonArgs& args);

// <run_dir>/<daemon>.sock
std::string DaemonSocketPath(const config::ClusterConfig& config, const std::string& daemon);

class DaemonRuntime {
 public:
  // Loads the configuration, resolves the local node, starts logging, creates the loop.
  static absl::StatusOr<std::unique_ptr<DaemonRuntime>> Create(const std::string& daemon,
                                                               const DaemonArgs& args);
  ~DaemonRuntime();

  const std::string& daemon() const { return daemon_; }
  const config::ClusterConfig& config() const { return config_; }
  const config::NodeConfig& local_node() const { return local_node_; }
  EventLoop& loop() { return *loop_; }
  Clock& clock() { return clock_; }
  // Null until Serve().
  UnixGrpcServer* server() { return server_.get(); }

  // Keeps `object` (the daemon's logic) alive until the runtime is destroyed; it is destroyed
  // after the server stops and before the loop. Returns it.
  template <typename T>
  T* Adopt(std::unique_ptr<T> object) {
    T* raw = object.get();
    owned_.push_back(std::shared_ptr<T>(std::move(object)));
    return raw;
  }
  // Adds a service to serve beside DaemonControl. REQUIRES: before Serve(); `service` outlives
  // the runtime.
  void AddService(grpc::Service* service) { services_.push_back(service); }
  // Starts the gRPC server, then tells the supervisor this daemon is ready.
  absl::Status Serve();
  // What Health reports. Thread-safe.
  void SetState(daemon::v1::ServingState state, std::string detail);
  // Replaces what SIGTERM does (default: RequestStop()). For daemons that must leave cleanly.
  void SetStopHandler(absl::AnyInvocable<void()> handler) { stop_handler_ = std::move(handler); }
  // Stops the loop; Run() then returns. Thread-safe.
  void RequestStop();
  // Runs the loop until stopped; shuts the server down; returns the exit code.
  int Run();
  // The code Run() returns (default 0).
  void SetExitCode(int code) { exit_code_ = code; }

 private:
  class ControlService;

  DaemonRuntime(std::string daemon,
                config::ClusterConfig config,
                config::NodeConfig local_node,
                std::unique_ptr<EventLoop> loop);
  absl::Status InstallSignals();
  void NotifyReady();

  std::string daemon_;
  config::ClusterConfig config_;
  config::NodeConfig local_node_;
  RealClock clock_;
  absl::Time started_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ControlService> control_;
  std::vector<grpc::Service*> services_;
  std::vector<std::shared_ptr<void>> owned_;  // destroyed in reverse order of adoption
  std::unique_ptr<UnixGrpcServer> server_;
  absl::AnyInvocable<void()> stop_handler_;
  int exit_code_ = 0;
  absl::Mutex mu_;
  daemon::v1::ServingState state_ ABSL_GUARDED_BY(mu_) = daemon::v1::STARTING;
  std::string detail_ ABSL_GUARDED_BY(mu_);
};

// The whole main of a daemon: arguments, -t, runtime, `setup` (which builds the daemon's logic
// and may add services), Serve, Run. Returns the process exit code.
int RunDaemonMain(const std::string& daemon,
                  int argc,
                  char** argv,
                  absl::AnyInvocable<absl::Status(DaemonRuntime&)> setup);

}  // namespace ha
