// hactl: the node's stack at a glance, and its daemons' run-time switches.
//   hactl status [--json]              the supervisor's view and each daemon's own health
//   hactl health DAEMON                one daemon's health
//   hactl debug DAEMON on|off [SUBSYS...]   debug logging at run time
//   hactl dump DAEMON                  write a daemon's flight recorder, print the file name
//   hactl blackbox FILE                print a flight-recorder file
//   hactl shutdown                     stop the node's stack (supervisor Shutdown)
// The node is found through its configuration: -c FILE, else $HA_CONFIG, else the default.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/daemon_runtime.h"
#include "common/exit_codes.h"
#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/logging.h"
#include "common/tool_config.h"
#include "proto/daemon.grpc.pb.h"
#include "proto/supervisor.grpc.pb.h"

namespace {

using ha::ExitCode;
using ha::ToInt;
namespace daemonpb = ha::daemon::v1;
namespace suppb = ha::supervisor::v1;

constexpr char kSupervisor[] = "haclusterd";

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "hactl: " << what << ": " << status.message() << "\n";
  return ToInt(ExitCode::kError);
}

absl::StatusOr<daemonpb::HealthResponse> Health(const std::string& run_dir,
                                                const std::string& daemon) {
  auto stub = daemonpb::DaemonControl::NewStub(ha::ConnectUnix(run_dir + "/" + daemon + ".sock"));
  auto ctx = ha::ContextWithDeadline(absl::Seconds(2));
  daemonpb::HealthResponse response;
  absl::Status s = ha::FromGrpcStatus(stub->Health(ctx.get(), {}, &response));
  if (!s.ok()) {
    return s;
  }
  return response;
}

std::string StateName(daemonpb::ServingState s) {
  std::string name = daemonpb::ServingState_Name(s);
  return absl::AsciiStrToLower(name);
}

int Status(const std::string& run_dir, bool json) {
  auto stub = suppb::Supervisor::NewStub(ha::ConnectUnix(run_dir + "/" + kSupervisor + ".sock"));
  auto ctx = ha::ContextWithDeadline(absl::Seconds(2));
  suppb::StatusResponse status;
  absl::Status s = ha::FromGrpcStatus(stub->Status(ctx.get(), {}, &status));
  if (!s.ok()) {
    if (json) {
      std::cout << nlohmann::json{{"stack", "down"}, {"error", std::string(s.message())}}.dump()
                << "\n";
    } else {
      std::cout << "stack: down (" << s.message() << ")\n";
    }
    return ToInt(ExitCode::kError);
  }
  std::string stack =
      absl::AsciiStrToLower(absl::StripPrefix(suppb::StackState_Name(status.stack()), "STACK_"));
  nlohmann::json out = {{"node", status.node_name()},
                        {"nodeid", status.node_id()},
                        {"cluster", status.cluster_name()},
                        {"stack", stack},
                        {"daemons", nlohmann::json::array()}};
  if (!json) {
    std::cout << absl::StrFormat("Node %s (id %u) of cluster %s: stack %s\n",
                                 status.node_name(),
                                 status.node_id(),
                                 status.cluster_name(),
                                 stack);
  }
  for (const auto& d : status.daemons()) {
    std::string state = absl::AsciiStrToLower(suppb::DaemonState_Name(d.state()));
    std::string health = "-";
    std::string detail;
    if (d.state() == suppb::RUNNING) {
      auto h = Health(run_dir, d.name());
      if (h.ok()) {
        health = StateName(h->state());
        detail = h->detail();
      } else {
        health = "unreachable";
        detail = std::string(h.status().message());
      }
    }
    out["daemons"].push_back({{"name", d.name()},
                              {"state", state},
                              {"pid", d.pid()},
                              {"restarts", d.restarts()},
                              {"last_exit", d.last_exit()},
                              {"health", health},
                              {"detail", detail}});
    if (!json) {
      std::cout << absl::StrFormat(
          "  %-12s %-9s pid %-7d restarts %-3u health %-11s %s%s\n",
          d.name(),
          state,
          d.pid(),
          d.restarts(),
          health,
          detail,
          d.last_exit().empty() ? "" : "  (last exit: " + d.last_exit() + ")");
    }
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("hactl: the local node's stack and its daemons", "hactl");
  app.require_subcommand(1);
  std::string config_path;
  std::string run_dir;
  app.add_option(
      "-c,--config",
      config_path,
      "cluster configuration (default $HA_CONFIG or " + std::string(ha::kDefaultConfigPath) + ")");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)");

  bool json = false;
  auto* status_cmd = app.add_subcommand("status", "the supervisor's view and each daemon's health");
  status_cmd->add_flag("--json", json, "print JSON");

  std::string daemon;
  auto* health_cmd = app.add_subcommand("health", "one daemon's health");
  health_cmd->add_option("daemon", daemon)->required();

  std::string on_off;
  std::vector<std::string> subsystems;
  auto* debug_cmd = app.add_subcommand("debug", "switch a daemon's debug logging at run time");
  debug_cmd->add_option("daemon", daemon)->required();
  debug_cmd->add_option("state", on_off)->required()->check(CLI::IsMember({"on", "off"}));
  debug_cmd->add_option("subsystems", subsystems, "subsystems (default: all)");

  auto* dump_cmd = app.add_subcommand("dump", "write a daemon's flight recorder to a file");
  dump_cmd->add_option("daemon", daemon)->required();

  std::string file;
  auto* blackbox_cmd = app.add_subcommand("blackbox", "print a flight-recorder file");
  blackbox_cmd->add_option("file", file)->required();

  auto* shutdown_cmd = app.add_subcommand("shutdown", "stop the node's stack");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : ToInt(ExitCode::kUsage);
  }

  if (blackbox_cmd->parsed()) {
    absl::Status s = ha::log::PrintBlackboxFile(file);
    return s.ok() ? 0 : Fail("blackbox", s);
  }

  if (absl::StatusOr<std::string> dir =
          ha::ResolveRunDir(config_path, run_dir, getenv("HA_CONFIG"));
      dir.ok()) {
    run_dir = *dir;
  } else {
    std::cerr << "hactl: " << dir.status().message() << "\n";
    return ToInt(ExitCode::kConfig);
  }

  if (status_cmd->parsed()) {
    return Status(run_dir, json);
  }
  if (health_cmd->parsed()) {
    auto h = Health(run_dir, daemon);
    if (!h.ok()) {
      return Fail(daemon, h.status());
    }
    std::cout << absl::StrFormat(
        "%s: %s, pid %d, node %s (id %u), up %d ms, version %s%s%s\n",
        h->daemon(),
        StateName(h->state()),
        h->pid(),
        h->node_name(),
        h->node_id(),
        h->uptime_ms(),
        h->version(),
        h->detail().empty() ? "" : ": " + h->detail(),
        h->debug_subsystems().empty()
            ? ""
            : absl::StrCat(" [debug: ", absl::StrJoin(h->debug_subsystems(), ","), "]"));
    return 0;
  }
  auto control =
      daemonpb::DaemonControl::NewStub(ha::ConnectUnix(run_dir + "/" + daemon + ".sock"));
  auto ctx = ha::ContextWithDeadline();
  if (debug_cmd->parsed()) {
    daemonpb::SetDebugRequest request;
    request.set_enabled(on_off == "on");
    for (const auto& s : subsystems) {
      request.add_subsystems(s);
    }
    daemonpb::SetDebugResponse response;
    absl::Status s = ha::FromGrpcStatus(control->SetDebug(ctx.get(), request, &response));
    if (!s.ok()) {
      return Fail(daemon, s);
    }
    std::cout << daemon << ": debug on for: "
              << (response.debug_subsystems().empty()
                      ? "nothing"
                      : absl::StrJoin(response.debug_subsystems(), ","))
              << "\n";
    return 0;
  }
  if (dump_cmd->parsed()) {
    daemonpb::DumpBlackboxResponse response;
    absl::Status s = ha::FromGrpcStatus(control->DumpBlackbox(ctx.get(), {}, &response));
    if (!s.ok()) {
      return Fail(daemon, s);
    }
    std::cout << response.path() << "\n";
    return 0;
  }
  if (shutdown_cmd->parsed()) {
    auto stub = suppb::Supervisor::NewStub(ha::ConnectUnix(run_dir + "/" + kSupervisor + ".sock"));
    suppb::ShutdownResponse response;
    absl::Status s = ha::FromGrpcStatus(stub->Shutdown(ctx.get(), {}, &response));
    if (!s.ok()) {
      return Fail(kSupervisor, s);
    }
    std::cout << "shutdown requested\n";
    return 0;
  }
  return ToInt(ExitCode::kUsage);
}
