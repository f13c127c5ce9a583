#include "common/daemon_runtime.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/exit_codes.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace ha {
namespace {

std::string DefaultConfigPath() {
  const char* env = getenv("HA_CONFIG");
  return env != nullptr && *env != '\0' ? env : kDefaultConfigPath;
}

std::optional<std::string> EnvDebug() {
  const char* env = getenv("HA_DEBUG");
  if (env == nullptr) {
    return std::nullopt;
  }
  return std::string(env);
}

}  // namespace

class DaemonRuntime::ControlService final : public daemon::v1::DaemonControl::Service {
 public:
  explicit ControlService(DaemonRuntime* rt) : rt_(rt) {}

  grpc::Status Health(grpc::ServerContext*,
                      const daemon::v1::HealthRequest*,
                      daemon::v1::HealthResponse* response) override {
    response->set_daemon(rt_->daemon_);
    response->set_pid(getpid());
    response->set_version(kVersion);
    response->set_node_id(rt_->local_node_.nodeid);
    response->set_node_name(rt_->local_node_.name);
    response->set_uptime_ms(absl::ToInt64Milliseconds(rt_->clock_.MonotonicNow() - rt_->started_));
    {
      absl::MutexLock lock(&rt_->mu_);
      response->set_state(rt_->state_);
      response->set_detail(rt_->detail_);
    }
    for (const auto& s : log::DebugSubsystems()) {
      response->add_debug_subsystems(s);
    }
    return grpc::Status::OK;
  }

  grpc::Status SetDebug(grpc::ServerContext*,
                        const daemon::v1::SetDebugRequest* request,
                        daemon::v1::SetDebugResponse* response) override {
    std::vector<std::string> subsystems(request->subsystems().begin(), request->subsystems().end());
    auto now_on = log::SetDebug(subsystems, request->enabled());
    HA_LOG_NOTICE("main",
                  "debug logging %s for %s by request | now=%s",
                  request->enabled() ? "on" : "off",
                  subsystems.empty() ? "all subsystems" : absl::StrJoin(subsystems, ","),
                  absl::StrJoin(now_on, ","));
    for (const auto& s : now_on) {
      response->add_debug_subsystems(s);
    }
    return grpc::Status::OK;
  }

  grpc::Status DumpBlackbox(grpc::ServerContext*,
                            const daemon::v1::DumpBlackboxRequest*,
                            daemon::v1::DumpBlackboxResponse* response) override {
    auto path = log::DumpBlackbox();
    if (!path.ok()) {
      return ToGrpcStatus(path.status());
    }
    HA_LOG_NOTICE("main", "flight recorder written by request | path=%s", *path);
    response->set_path(*path);
    return grpc::Status::OK;
  }

 private:
  DaemonRuntime* rt_;
};

std::variant<DaemonArgs, int> ParseDaemonArgs(const std::string& daemon, int argc, char** argv) {
  DaemonArgs args;
  args.config_path = DefaultConfigPath();
  CLI::App app(absl::StrCat(daemon, ": a daemon of the hacluster stack"), daemon);
  uint32_t nodeid = 0;
  app.add_option("-c,--config",
                 args.config_path,
                 "cluster configuration file (corosync.conf syntax; default $HA_CONFIG or " +
                     std::string(kDefaultConfigPath) + ")");
  app.add_option(
      "-n,--nodeid", nodeid, "the local node's id (default: totem.nodeid or by address)");
  app.add_flag("-t,--test-config", args.check_only, "check the configuration and exit");
  app.add_flag("-f,--foreground", args.foreground, "also log to stderr");
  app.set_version_flag("-v,--version", kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
  }
  if (nodeid != 0) {
    args.nodeid = nodeid;
  }
  return args;
}

int CheckConfigAndExit(const std::string& daemon, const DaemonArgs& args) {
  auto loaded = config::LoadClusterConfigFile(args.config_path);
  if (!loaded.ok()) {
    std::cerr << daemon << ": " << loaded.status().message() << "\n";
    return ToInt(ExitCode::kConfig);
  }
  for (const auto& w : loaded->warnings) {
    std::cerr << w.ToString() << "\n";
  }
  std::cout << "Configuration is correct.\n";
  return ToInt(ExitCode::kOk);
}

std::string DaemonSocketPath(const config::ClusterConfig& config, const std::string& daemon) {
  return absl::StrCat(config.system.run_dir, "/", daemon, ".sock");
}

DaemonRuntime::DaemonRuntime(std::string daemon,
                             config::ClusterConfig config,
                             config::NodeConfig local_node,
                             std::unique_ptr<EventLoop> loop)
    : daemon_(std::move(daemon)),
      config_(std::move(config)),
      local_node_(std::move(local_node)),
      started_(clock_.MonotonicNow()),
      loop_(std::move(loop)) {
  stop_handler_ = [this] { RequestStop(); };
}

DaemonRuntime::~DaemonRuntime() {
  if (server_ != nullptr) {
    server_->Shutdown();
  }
  while (!owned_.empty()) {
    owned_.pop_back();
  }
}

absl::StatusOr<std::unique_ptr<DaemonRuntime>> DaemonRuntime::Create(const std::string& daemon,
                                                                     const DaemonArgs& args) {
  auto loaded = config::LoadClusterConfigFile(args.config_path);
  if (!loaded.ok()) {
    return loaded.status();
  }
  auto node = config::ResolveLocalNode(loaded->config, args.nodeid);
  if (!node.ok()) {
    return node.status();
  }
  config::NodeConfig local_node = **node;
  config::ClusterConfig& cfg = loaded->config;

  std::error_code ec;
  for (const auto& dir : {cfg.system.state_dir, cfg.system.run_dir}) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
    }
  }

  log::LogSetup setup;
  setup.daemon = daemon;
  setup.config = cfg.logging;
  setup.blackbox_dir = absl::StrCat(cfg.system.state_dir, "/blackbox");
  setup.to_stderr = args.foreground;
  setup.env_debug = EnvDebug();
  if (absl::Status s = log::Init(setup); !s.ok()) {
    return s;
  }
  log::InstallCrashDump();
  for (const auto& w : loaded->warnings) {
    HA_LOG_WARN("config", "%s", w.ToString());
  }

  auto loop = CreateQbEventLoop();
  if (!loop.ok()) {
    return loop.status();
  }
  std::unique_ptr<DaemonRuntime> rt(
      new DaemonRuntime(daemon, std::move(cfg), std::move(local_node), std::move(*loop)));
  rt->control_ = std::make_unique<ControlService>(rt.get());
  if (absl::Status s = rt->InstallSignals(); !s.ok()) {
    return s;
  }
  HA_LOG_NOTICE("main",
                "%s %s starting | node=%s nodeid=%u config=%s run_dir=%s state_dir=%s",
                daemon,
                kVersion,
                rt->local_node_.name,
                rt->local_node_.nodeid,
                args.config_path,
                rt->config_.system.run_dir,
                rt->config_.system.state_dir);
  return rt;
}

absl::Status DaemonRuntime::InstallSignals() {
  signal(SIGPIPE, SIG_IGN);
  auto on_stop = [this] {
    HA_LOG_NOTICE("main", "stop requested by signal");
    SetState(daemon::v1::STOPPING, "stopping");
    stop_handler_();
  };
  if (absl::Status s = loop_->OnSignal(SIGTERM, on_stop); !s.ok()) {
    return s;
  }
  if (absl::Status s = loop_->OnSignal(SIGINT, on_stop); !s.ok()) {
    return s;
  }
  if (absl::Status s = loop_->OnSignal(SIGUSR1,
                                       [] {
                                         auto on = log::ToggleDebug();
                                         HA_LOG_NOTICE("main",
                                                       "debug logging toggled by SIGUSR1 | now=%s",
                                                       absl::StrJoin(on, ","));
                                       });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = loop_->OnSignal(
          SIGUSR2,
          [] {
            auto path = log::DumpBlackbox();
            if (path.ok()) {
              HA_LOG_NOTICE("main", "flight recorder written on SIGUSR2 | path=%s", *path);
            } else {
              HA_LOG_ERROR(
                  "main", "cannot write the flight recorder: %s", path.status().ToString());
            }
          });
      !s.ok()) {
    return s;
  }
  return loop_->OnSignal(SIGHUP, [] {
    HA_LOG_INFO("main", "SIGHUP ignored: configuration reload is not supported yet");
  });
}

absl::Status DaemonRuntime::Serve() {
  auto policy = PeerPolicy::FromConfig(config_.uidgid);
  if (!policy.ok()) {
    return policy.status();
  }
  UnixGrpcServer::Options options;
  options.socket_path = DaemonSocketPath(config_, daemon_);
  options.policy = *policy;
  options.services.push_back(control_.get());
  for (grpc::Service* s : services_) {
    options.services.push_back(s);
  }
  auto server = UnixGrpcServer::Start(std::move(options));
  if (!server.ok()) {
    return server.status();
  }
  server_ = std::move(*server);
  {
    absl::MutexLock lock(&mu_);
    if (state_ == daemon::v1::STARTING) {
      state_ = daemon::v1::SERVING;
    }
  }
  HA_LOG_INFO("main", "serving | socket=%s allowed=%s", server_->socket_path(), policy->Describe());
  NotifyReady();
  return absl::OkStatus();
}

void DaemonRuntime::NotifyReady() {
  const char* env = getenv("HA_READY_FD");
  int fd;
  if (env == nullptr || !absl::SimpleAtoi(env, &fd) || fd < 0) {
    return;
  }
  static const char kReady[] = "READY\n";
  ssize_t ignored = write(fd, kReady, sizeof(kReady) - 1);
  (void)ignored;
  close(fd);
  unsetenv("HA_READY_FD");
}

void DaemonRuntime::SetState(daemon::v1::ServingState state, std::string detail) {
  absl::MutexLock lock(&mu_);
  state_ = state;
  detail_ = std::move(detail);
}

void DaemonRuntime::RequestStop() {
  loop_->Stop();
}

int DaemonRuntime::Run() {
  loop_->Run();
  HA_LOG_NOTICE("main", "%s exiting", daemon_);
  if (server_ != nullptr) {
    server_->Shutdown();
  }
  log::Shutdown();
  return exit_code_;
}

int RunDaemonMain(const std::string& daemon,
                  int argc,
                  char** argv,
                  absl::AnyInvocable<absl::Status(DaemonRuntime&)> setup) {
  auto parsed = ParseDaemonArgs(daemon, argc, argv);
  if (std::holds_alternative<int>(parsed)) {
    return std::get<int>(parsed);
  }
  const DaemonArgs& args = std::get<DaemonArgs>(parsed);
  if (args.check_only) {
    return CheckConfigAndExit(daemon, args);
  }
  auto rt = DaemonRuntime::Create(daemon, args);
  if (!rt.ok()) {
    std::cerr << daemon << ": " << rt.status().message() << "\n";
    return rt.status().code() == absl::StatusCode::kInvalidArgument ||
                   rt.status().code() == absl::StatusCode::kNotFound
               ? ToInt(ExitCode::kConfig)
               : ToInt(ExitCode::kError);
  }
  if (absl::Status s = setup(**rt); !s.ok()) {
    HA_LOG_ERROR("main", "cannot start: %s", s.ToString());
    std::cerr << daemon << ": " << s.message() << "\n";
    return ToInt(ExitCode::kError);
  }
  if (absl::Status s = (*rt)->Serve(); !s.ok()) {
    HA_LOG_ERROR("main", "cannot serve: %s", s.ToString());
    std::cerr << daemon << ": " << s.message() << "\n";
    // Another instance answering is not worth a respawn loop.
    return s.code() == absl::StatusCode::kAlreadyExists ? ToInt(ExitCode::kFatal)
                                                        : ToInt(ExitCode::kError);
  }
  return (*rt)->Run();
}

}  // namespace ha
