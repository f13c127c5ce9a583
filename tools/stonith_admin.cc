// stonith_admin: the fencer (stonithd) from the command line, with Pacemaker's flags and exit
// codes for what the Fencer API supports:
//   stonith_admin -L | -l NODE | --list-targets DEVICE | -I
//   stonith_admin -F NODE | -B NODE | -U NODE [-t SECONDS] [-T SECONDS]
//   stonith_admin -H NODE|'*' [-v] [-q]
//   stonith_admin -R DEVICE -a AGENT [-o NAME=VALUE ...] | -D DEVICE
//   stonith_admin -C NODE
// stonithd is found through the configuration: --run-dir DIR, else -c FILE, else $HA_CONFIG, else
// the default configuration file.
#include <dirent.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/daemon_runtime.h"
#include "common/grpc_status.h"
#include "common/grpc_unix_client.h"
#include "common/tool_config.h"
#include "proto/stonithd.grpc.pb.h"

namespace {

namespace pb = ha::stonithd::v1;

// Pacemaker's crm_exit_t values stonith_admin exits with.
enum Exit : int {
  kOk = 0,
  kError = 1,
  kInsufficientPriv = 4,
  kUsage = 64,
  kConfig = 78,
  kDisconnect = 102,
  kNoSuch = 105,
  kTimeout = 124,
};

constexpr int kDefaultTimeoutS = 120;  // Pacemaker's stonith_admin default
constexpr absl::Duration kQueryDeadline = absl::Seconds(30);
constexpr char kClient[] = "stonith_admin";
constexpr char kAgentDir[] = "/usr/sbin";

constexpr char kFooter[] =
    R"(Devices registered with -R live in this node's stonithd only, in memory, until -D or a
restart (for testing); devices of the CIB (primitive class="stonith") are read by stonithd itself.
Devices are monitored (their agent's monitor action, every 60 s or their monitor op's interval):
-L -v shows the last result, -Q runs it now. A device that failed its monitor is used only when
no healthy device can fence the target.
Fencing runs on this node's stonithd with the devices it holds.

Exit codes (Pacemaker's): 0 ok, 1 error (the fencing failed), 4 stonithd refused the caller,
64 usage, 78 configuration unreadable, 102 stonithd not running, 105 no such device (or no
device can fence the target), 124 timed out.

Examples:
  stonith_admin -R fence1 -a fence_dummy -o pcmk_host_list=node3 -o status_file=/tmp/f1
  stonith_admin -l node3
  stonith_admin -L -v
  stonith_admin -Q fence1
  stonith_admin -B node3 -t 60
  stonith_admin -H '*' -v
  stonith_admin -C node3)";

int Fail(const std::string& message, int code) {
  std::cerr << "stonith_admin: " << message << "\n";
  return code;
}

int ExitForRpc(const absl::Status& status) {
  if (absl::IsUnavailable(status)) {
    return kDisconnect;
  }
  if (absl::IsDeadlineExceeded(status)) {
    return kTimeout;
  }
  if (absl::IsPermissionDenied(status) || absl::IsUnauthenticated(status)) {
    return kInsufficientPriv;
  }
  if (absl::IsNotFound(status)) {
    return kNoSuch;
  }
  if (absl::IsInvalidArgument(status)) {
    return kUsage;
  }
  return kError;
}

const char* ActionName(pb::FenceAction action) {
  if (action == pb::FENCE_REBOOT) {
    return "reboot";
  }
  if (action == pb::FENCE_OFF) {
    return "off";
  }
  return action == pb::FENCE_ON ? "on" : "?";
}

std::string When(int64_t unix_ms) {
  return absl::FormatTime(
      "%Y-%m-%d %H:%M:%S %z", absl::FromUnixMillis(unix_ms), absl::LocalTimeZone());
}

// Pacemaker's history line.
std::string HistoryLine(const pb::FenceOperation& op) {
  std::string line = absl::StrCat(ActionName(op.action()), " of ", op.target(), " ");
  if (op.state() == pb::FENCE_DONE) {
    absl::StrAppend(&line,
                    "successful: delegate=",
                    op.delegate(),
                    ", client=",
                    op.client(),
                    ", origin=",
                    op.origin(),
                    ", device=",
                    op.device(),
                    ", completed='",
                    When(op.completed_unix_ms()),
                    "'");
  } else if (op.state() == pb::FENCE_FAILED) {
    absl::StrAppend(&line,
                    "failed: delegate=",
                    op.delegate(),
                    ", client=",
                    op.client(),
                    ", origin=",
                    op.origin(),
                    ", last-failed='",
                    When(op.completed_unix_ms()),
                    "'",
                    op.exit_reason().empty() ? "" : " (" + op.exit_reason() + ")");
  } else {
    absl::StrAppend(&line, "pending: client=", op.client(), ", origin=", op.origin());
  }
  return line;
}

class Fencer {
 public:
  explicit Fencer(std::string socket)
      : socket_(std::move(socket)), stub_(pb::Fencer::NewStub(ha::ConnectUnix(socket_))) {}
  pb::Fencer::Stub& stub() { return *stub_; }

  int CallFailed(const std::string& what, const absl::Status& status) const {
    const int code = ExitForRpc(status);
    if (code == kDisconnect) {
      if (access(socket_.c_str(), F_OK) != 0) {
        return Fail(absl::StrCat("Could not connect to the fencer: no socket at ",
                                 socket_,
                                 " (is stonithd running?)"),
                    code);
      }
      return Fail(
          absl::StrCat("Could not connect to the fencer at ", socket_, ": ", status.message()),
          code);
    }
    return Fail(absl::StrCat(what, " failed: ", status.message()), code);
  }

 private:
  std::string socket_;
  std::unique_ptr<pb::Fencer::Stub> stub_;
};

absl::Status Call(const grpc::Status& status) {
  return ha::FromGrpcStatus(status);
}

// " id" (Pacemaker's line); with --verbose also the agent and the last monitor's result.
std::string DeviceLine(const pb::Device& device, bool verbose) {
  std::string line = absl::StrCat(" ", device.id());
  if (!verbose) {
    return line;
  }
  absl::StrAppend(&line, " (", device.agent(), "): ", device.status());
  if (device.last_check_unix_ms() > 0) {
    absl::StrAppend(&line, ", last checked ", When(device.last_check_unix_ms()));
  }
  if (device.monitor_interval_s() == 0) {
    absl::StrAppend(&line, ", not monitored");
  } else {
    absl::StrAppend(&line, ", monitored every ", device.monitor_interval_s(), "s");
  }
  if (!device.status_reason().empty()) {
    absl::StrAppend(&line, " (", device.status_reason(), ")");
  }
  return line;
}

int Query(Fencer& fencer, const std::string& id) {
  pb::MonitorDeviceRequest request;
  request.set_id(id);
  pb::MonitorDeviceResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().MonitorDevice(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed(absl::StrCat("Checking device ", id), s);
  }
  std::cout << DeviceLine(response.device(), true) << "\n";
  return response.device().status() == "ok" ? kOk : kError;
}

int ListDevices(Fencer& fencer, const std::string& target, bool verbose) {
  pb::ListDevicesRequest request;
  request.set_target(target);
  pb::ListDevicesResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().ListDevices(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed("Listing the devices", s);
  }
  for (const pb::Device& device : response.devices()) {
    std::cout << DeviceLine(device, verbose) << "\n";
  }
  std::cout << response.devices_size() << " fence device"
            << (response.devices_size() == 1 ? "" : "s") << " found\n";
  return kOk;
}

int ListTargets(Fencer& fencer, const std::string& device) {
  pb::ListTargetsRequest request;
  request.set_device(device);
  pb::ListTargetsResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().ListTargets(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed(absl::StrCat("Listing the targets of ", device), s);
  }
  for (const std::string& target : response.targets()) {
    std::cout << " " << target << "\n";
  }
  std::cout << response.targets_size() << " target" << (response.targets_size() == 1 ? "" : "s")
            << " found\n";
  return kOk;
}

int ListInstalled() {
  std::vector<std::string> agents;
  if (DIR* dir = opendir(kAgentDir); dir != nullptr) {
    while (dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      std::string path = absl::StrCat(kAgentDir, "/", name);
      if (name.starts_with("fence_") && access(path.c_str(), X_OK) == 0) {
        agents.push_back(name);
      }
    }
    closedir(dir);
  }
  std::sort(agents.begin(), agents.end());
  for (const std::string& agent : agents) {
    std::cout << " " << agent << "\n";
  }
  std::cout << agents.size() << " fence device" << (agents.size() == 1 ? "" : "s") << " found\n";
  return kOk;
}

int FenceNode(Fencer& fencer,
              const std::string& target,
              pb::FenceAction action,
              int timeout_s,
              int tolerance_s) {
  pb::FenceRequest request;
  request.set_target(target);
  request.set_action(action);
  request.set_timeout_s(static_cast<uint32_t>(timeout_s));
  request.set_tolerance_s(static_cast<uint32_t>(tolerance_s));
  request.set_client_name(kClient);
  pb::FenceResponse response;
  // The fencer's own timeout ends the operation; the call waits a little longer for its answer.
  auto ctx = ha::ContextWithDeadline(absl::Seconds(timeout_s) * 1.5 + absl::Seconds(10));
  if (absl::Status s = Call(fencer.stub().Fence(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed(absl::StrCat(ActionName(action), " of ", target), s);
  }
  const pb::FenceOperation& op = response.operation();
  if (op.state() == pb::FENCE_DONE) {
    std::cout << "Node " << target << " "
              << (action == pb::FENCE_ON    ? "unfenced"
                  : action == pb::FENCE_OFF ? "fenced"
                                            : "rebooted")
              << " by " << op.device() << (op.within_tolerance() ? " (within tolerance)" : "")
              << "\n";
    return kOk;
  }
  std::cerr << "Command failed: " << op.exit_reason() << "\n";
  if (op.exit_reason() == "No fence device") {
    return kNoSuch;
  }
  if (op.exit_reason().starts_with("Timed out")) {
    return kTimeout;
  }
  return kError;
}

int History(Fencer& fencer, const std::string& target, bool verbose, bool quiet) {
  pb::GetHistoryRequest request;
  request.set_target(target == "*" ? "" : target);
  request.set_last_success_only(!verbose);
  pb::GetHistoryResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().GetHistory(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed("Reading the fencing history", s);
  }
  for (const pb::FenceOperation& op : response.operations()) {
    if (quiet) {  // Pacemaker: only the completion time (seconds since the epoch)
      std::cout << op.completed_unix_ms() / 1000 << "\n";
    } else {
      std::cout << HistoryLine(op) << "\n";
    }
  }
  return kOk;
}

int Register(Fencer& fencer,
             const std::string& id,
             const std::string& agent,
             const std::vector<std::string>& options) {
  pb::RegisterDeviceRequest request;
  request.set_id(id);
  request.set_agent(agent);
  for (const std::string& option : options) {
    std::vector<std::string> kv = absl::StrSplit(option, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return Fail(absl::StrCat("-o ", option, ": expected NAME=VALUE"), kUsage);
    }
    (*request.mutable_parameters())[kv[0]] = kv[1];
  }
  pb::RegisterDeviceResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().RegisterDevice(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed(absl::StrCat("Registering device ", id), s);
  }
  return kOk;
}

int Deregister(Fencer& fencer, const std::string& id) {
  pb::UnregisterDeviceRequest request;
  request.set_id(id);
  pb::UnregisterDeviceResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().UnregisterDevice(ctx.get(), request, &response));
      !s.ok()) {
    return fencer.CallFailed(absl::StrCat("Deregistering device ", id), s);
  }
  return kOk;
}

int Confirm(Fencer& fencer, const std::string& target) {
  std::cerr << "stonith_admin: WARNING: recording " << target
            << " as safely down WITHOUT fencing it; if it is in fact running, its data may be "
               "corrupted\n";
  pb::ConfirmFencedRequest request;
  request.set_target(target);
  request.set_client_name(kClient);
  pb::ConfirmFencedResponse response;
  auto ctx = ha::ContextWithDeadline(kQueryDeadline);
  if (absl::Status s = Call(fencer.stub().ConfirmFenced(ctx.get(), request, &response)); !s.ok()) {
    return fencer.CallFailed(absl::StrCat("Confirming ", target), s);
  }
  std::cout << "Node " << target << " confirmed down (manual ack)\n";
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "stonith_admin - access the fencer (stonithd): list, register and run fence "
      "devices, read the fencing history",
      "stonith_admin");
  app.footer(kFooter);
  app.get_formatter()->column_width(34);

  std::string config_path;
  std::string run_dir;
  app.add_option(
      "-c,--config",
      config_path,
      "cluster configuration (default $HA_CONFIG or " + std::string(ha::kDefaultConfigPath) + ")");
  app.add_option("--run-dir", run_dir, "the node's socket folder (instead of the configuration's)")
      ->type_name("DIR");

  std::string node;
  std::string device;
  // CLI11 2.1 finds add_flag(name, "literal") ambiguous: descriptions go as strings.
  auto flag = [&app](const std::string& name, const std::string& description) {
    return app.add_flag(name, description);
  };
  auto* list_registered = flag("-L,--list-registered", "List all registered devices");
  auto* list_installed = flag("-I,--list-installed", "List all installed fence agents");
  auto* list = app.add_option("-l,--list", node, "List devices that can terminate the node")
                   ->type_name("NODE");
  auto* list_targets =
      app.add_option("--list-targets", device, "List the targets the device can fence")
          ->type_name("DEVICE");
  auto* query = app.add_option("-Q,--query",
                               device,
                               "Check the device's status now (runs its monitor); exit 0 when "
                               "healthy, 1 when not")
                    ->type_name("DEVICE");
  auto* fence = app.add_option("-F,--fence", node, "Fence (power off) the node")->type_name("NODE");
  auto* reboot = app.add_option("-B,--reboot", node, "Reboot the node")->type_name("NODE");
  auto* unfence =
      app.add_option("-U,--unfence", node, "Unfence (power on) the node")->type_name("NODE");
  auto* history = app.add_option("-H,--history",
                                 node,
                                 "Show the last successful fencing of the node ('*' for all "
                                 "nodes); with --verbose, every recorded and pending operation")
                      ->type_name("NODE");
  auto* reg = app.add_option("-R,--register",
                             device,
                             "Register the device (with --agent and --option) on this node's "
                             "fencer, for testing")
                  ->type_name("DEVICE");
  auto* dereg = app.add_option("-D,--deregister", device, "Deregister a device registered with -R")
                    ->type_name("DEVICE");
  auto* confirm = app.add_option("-C,--confirm",
                                 node,
                                 "Confirm that the node is safely down WITHOUT fencing it (like "
                                 "fence_ack_manual); dangerous if it is in fact up")
                      ->type_name("NODE");

  std::string agent;
  std::vector<std::string> options;
  int timeout_s = kDefaultTimeoutS;
  int tolerance_s = 0;
  bool verbose = false;
  bool quiet = false;
  app.add_option("-a,--agent",
                 agent,
                 "The fence agent of -R (e.g. fence_ipmilan), or a legacy STONITH plugin of "
                 "cluster-glue (e.g. null, external/ssh)")
      ->type_name("AGENT");
  app.add_option("-o,--option", options, "A device parameter NAME=VALUE for -R (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  app.add_option("-t,--timeout", timeout_s, "Operation timeout in seconds (default 120)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 86400));
  app.add_option("-T,--tolerance",
                 tolerance_s,
                 "Do not fence again if the node was fenced this many seconds ago")
      ->type_name("SECONDS")
      ->check(CLI::Range(0, 86400));
  app.add_flag("-v,--verbose",
               verbose,
               "More output (every history entry; each device's status with -L and -l)");
  app.add_flag("-q,--quiet", quiet, "Less output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }

  std::vector<CLI::Option*> commands = {list_registered,
                                        list_installed,
                                        query,
                                        list,
                                        list_targets,
                                        fence,
                                        reboot,
                                        unfence,
                                        history,
                                        reg,
                                        dereg,
                                        confirm};
  size_t given = std::count_if(
      commands.begin(), commands.end(), [](CLI::Option* o) { return o->count() > 0; });
  if (given != 1) {
    return Fail(given == 0 ? "no command given (see --help)" : "give exactly one command", kUsage);
  }
  if (reg->count() > 0 && agent.empty()) {
    return Fail("--register needs --agent", kUsage);
  }
  if (list_installed->count() > 0) {
    return ListInstalled();
  }

  absl::StatusOr<std::string> dir = ha::ResolveRunDir(config_path, run_dir, getenv("HA_CONFIG"));
  if (!dir.ok()) {
    return Fail(std::string(dir.status().message()), kConfig);
  }
  Fencer fencer(*dir + "/stonithd.sock");
  if (list_registered->count() > 0) {
    return ListDevices(fencer, "", verbose);
  }
  if (list->count() > 0) {
    return ListDevices(fencer, node, verbose);
  }
  if (list_targets->count() > 0) {
    return ListTargets(fencer, device);
  }
  if (query->count() > 0) {
    return Query(fencer, device);
  }
  if (fence->count() > 0) {
    return FenceNode(fencer, node, pb::FENCE_OFF, timeout_s, tolerance_s);
  }
  if (reboot->count() > 0) {
    return FenceNode(fencer, node, pb::FENCE_REBOOT, timeout_s, tolerance_s);
  }
  if (unfence->count() > 0) {
    return FenceNode(fencer, node, pb::FENCE_ON, timeout_s, tolerance_s);
  }
  if (history->count() > 0) {
    return History(fencer, node, verbose, quiet);
  }
  if (reg->count() > 0) {
    return Register(fencer, device, agent, options);
  }
  if (dereg->count() > 0) {
    return Deregister(fencer, device);
  }
  return Confirm(fencer, node);
}
