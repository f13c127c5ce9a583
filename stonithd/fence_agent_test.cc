// Running fence agents for real: test agents in testdata/ (arguments, timeouts, failures, bounded
// output, meta-data) and Debian's fence_dummy from fence-agents (skipped when not installed).
#include "stonithd/fence_agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/event_loop.h"

namespace ha::stonithd {
namespace {

const std::string kTestData = HA_STONITHD_TESTDATA_DIR;
constexpr char kFenceDummy[] = "/usr/sbin/fence_dummy";

struct Harness {
  std::unique_ptr<EventLoop> loop;
  RealClock clock;
  std::unique_ptr<lrmd::PosixProcessRunner> runner;
  std::unique_ptr<FenceAgentRunner> agents;

  explicit Harness(std::string bin_dir = kTestData, size_t max_output = 64 * 1024) {
    auto created = CreateQbEventLoop();
    REQUIRE(created.ok());
    loop = std::move(*created);
    lrmd::PosixProcessRunner::Options options;
    options.max_output_bytes = max_output;
    options.kill_grace = absl::Milliseconds(500);
    runner = std::make_unique<lrmd::PosixProcessRunner>(*loop, clock, options);
    FenceAgentPaths paths;
    paths.bin_dir = std::move(bin_dir);
    agents = std::make_unique<FenceAgentRunner>(*runner, paths);
  }
  ~Harness() {
    agents.reset();
    runner.reset();  // before the loop
  }

  // Runs until the agent is done (a 20 s guard fails the test).
  FenceResult Wait(absl::StatusOr<FenceAgentRunner::RunId> id, std::optional<FenceResult>& result) {
    REQUIRE(id.ok());
    bool guard_fired = false;
    EventLoop::TimerId guard = loop->AddTimer(absl::Seconds(20), [&] {
      guard_fired = true;
      loop->Stop();
    });
    if (!result.has_value()) {
      loop->Run();
    }
    loop->CancelTimer(guard);
    REQUIRE_FALSE(guard_fired);
    REQUIRE(result.has_value());
    return *result;
  }

  FenceResult Run(const FenceDevice& device,
                  const std::string& action,
                  const std::string& target,
                  absl::Duration timeout = absl::Seconds(10)) {
    std::optional<FenceResult> result;
    auto id = agents->Run(device, action, target, timeout, [&](FenceResult r) {
      result = std::move(r);
      loop->Stop();
    });
    return Wait(id, result);
  }

  FenceResult Metadata(const std::string& agent) {
    std::optional<FenceResult> result;
    auto id = agents->RunMetadata(agent, absl::Seconds(10), [&](FenceResult r) {
      result = std::move(r);
      loop->Stop();
    });
    return Wait(id, result);
  }
};

FenceDevice Device(const std::string& agent, std::map<std::string, std::string> params = {}) {
  absl::StatusOr<FenceDevice> device = MakeFenceDevice("dev", agent, std::move(params));
  REQUIRE(device.ok());
  return *device;
}

TEST_CASE("a test agent gets its arguments on stdin") {
  Harness h;
  FenceResult r =
      h.Run(Device("fence_echo", {{"pcmk_host_map", "n1:vm1"}, {"ipaddr", "x"}}), "reboot", "n1");
  CHECK(r.ok());
  CHECK(r.stdout_tail == "action=reboot\nnodename=n1\nport=vm1\nipaddr=x\n");

  r = h.Run(Device("fence_echo"), "list", "");
  CHECK(r.ok());
  CHECK(ParseTargetList(r.stdout_tail) == std::vector<std::string>{"vm1", "alias1", "vm2"});

  r = h.Run(Device("fence_echo", {{"state", "off"}}), "status", "n1");
  CHECK(r.ok());
  CHECK(r.power == PowerState::kOff);
  r = h.Run(Device("fence_echo", {{"state", "broken"}}), "status", "n1");
  CHECK_FALSE(r.ok());
  CHECK(r.reason == "agent exited with code 1");
}

TEST_CASE("meta-data gives parameters and actions") {
  Harness h;
  FenceResult r = h.Metadata("fence_echo");
  REQUIRE(r.ok());
  absl::StatusOr<FenceAgentMetadata> md = ParseFenceAgentMetadata(r.stdout_tail);
  REQUIRE(md.ok());
  CHECK(md->name == "fence_echo");
  CHECK(md->shortdesc == "Echo fence agent for tests");
  CHECK(md->FindParameter("plug")->obsoletes == "port");
  AgentCapabilities caps = md->Capabilities();
  CHECK(caps.known);
  CHECK(caps.supports_list);
  CHECK(caps.supports_reboot);
  CHECK(caps.has_plug_parameter);
  CHECK_FALSE(caps.automatic_unfencing);
  CHECK_FALSE(ParseFenceAgentMetadata("<not-an-agent/>").ok());
  CHECK_FALSE(ParseFenceAgentMetadata("<resource-agent").ok());
}

TEST_CASE("a hanging agent is killed with its process group after its timeout") {
  Harness h;
  FenceResult r = h.Run(Device("fence_hang"), "off", "n1", absl::Milliseconds(300));
  CHECK(r.status == lrmd::ExecStatus::kTimedOut);
  CHECK_FALSE(r.ok());
  CHECK(absl::StrContains(r.reason, "timed out"));
  // The child it started in its group ("started PID") is gone too.
  REQUIRE(absl::StartsWith(r.stdout_tail, "started "));
  pid_t child = std::atoi(r.stdout_tail.substr(8).c_str());
  REQUIRE(child > 0);
  // Dead: no such process, or a zombie waiting for whoever inherited it. The kill is sent to
  // the group before the result, but a loaded machine may take a moment to finish it.
  auto gone = [child] {
    std::ifstream stat(absl::StrCat("/proc/", child, "/stat"));
    std::string pid_field, comm, state;
    return !(stat >> pid_field >> comm >> state) || state == "Z";
  };
  for (int i = 0; i < 200 && !gone(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(gone());
}

TEST_CASE("a failing agent's reason comes from its stderr") {
  Harness h;
  FenceResult r = h.Run(Device("fence_fail"), "off", "n1");
  CHECK(r.status == lrmd::ExecStatus::kDone);
  CHECK(r.exit_code == 1);
  CHECK(r.reason == "Failed: Unable to connect/login to fencing device");
}

TEST_CASE("output is bounded; a missing agent is not installed") {
  Harness h(kTestData, 4096);
  FenceResult r = h.Run(Device("fence_chatty"), "monitor", "");
  CHECK(r.ok());
  CHECK(r.stdout_tail.size() <= 4096);
  CHECK(absl::EndsWith(r.stdout_tail, "the end\n"));
  r = h.Run(Device("fence_does_not_exist"), "off", "n1");
  CHECK(r.status == lrmd::ExecStatus::kNotInstalled);
}

TEST_CASE("fence_dummy from fence-agents: list, status, monitor, off, reboot") {
  if (access(kFenceDummy, X_OK) != 0) {
    WARN("skipped: " << kFenceDummy << " is not installed (Debian package fence-agents)");
    return;
  }
  Harness h("/usr/sbin");
  char tmpl[] = "/tmp/stonithd-dummy-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string status_file = absl::StrCat(tmpl, "/status");
  FenceDevice dummy = Device("fence_dummy", {{"status_file", status_file}});

  FenceResult md = h.Metadata("fence_dummy");
  REQUIRE(md.ok());
  absl::StatusOr<FenceAgentMetadata> parsed = ParseFenceAgentMetadata(md.stdout_tail);
  REQUIRE(parsed.ok());
  AgentCapabilities caps = parsed->Capabilities();
  CHECK(caps.supports_reboot);
  CHECK(caps.supports_status);
  CHECK_FALSE(caps.supports_list);  // fence_dummy has no list action
  absl::StatusOr<FenceDevice> with_caps =
      MakeFenceDevice("dummy", "fence_dummy", {{"status_file", status_file}}, caps);
  REQUIRE(with_caps.ok());
  CHECK(with_caps->host_check == HostCheck::kStatus);  // Pacemaker's default for such an agent

  CHECK(h.Run(dummy, "monitor", "").ok());
  FenceResult list = h.Run(dummy, "list", "");
  CHECK_FALSE(list.ok());  // "Unrecognised action 'list'"
  CHECK(absl::StrContains(list.reason, "list"));

  FenceResult status = h.Run(dummy, "status", "node1");
  CHECK(status.ok());
  CHECK(status.power == PowerState::kOff);  // no status file yet: off
  CHECK(h.Run(dummy, "on", "node1").ok());
  CHECK(h.Run(dummy, "status", "node1").power == PowerState::kOn);
  CHECK(h.Run(dummy, "off", "node1").ok());
  CHECK(h.Run(dummy, "status", "node1").power == PowerState::kOff);
  CHECK(h.Run(dummy, "reboot", "node1").ok());
  CHECK(h.Run(dummy, "status", "node1").power == PowerState::kOn);
  std::string rm = absl::StrCat("rm -rf '", tmpl, "'");
  CHECK(std::system(rm.c_str()) == 0);
}

// A folder tree for the type -> adapter mapping: bin/ (fence agents, the adapter) and plugins/
// (cluster-glue's layout).
struct LegacyTree {
  std::string root;
  FenceAgentPaths paths;
  LegacyTree() {
    char tmpl[] = "/tmp/stonithd-legacy-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    paths.bin_dir = root + "/bin";
    paths.legacy_plugin_dir = root + "/plugins";
    std::string mk = absl::StrCat("mkdir -p '",
                                  paths.bin_dir,
                                  "' '",
                                  paths.legacy_plugin_dir,
                                  "/stonith2' '",
                                  paths.legacy_plugin_dir,
                                  "/external'");
    REQUIRE(std::system(mk.c_str()) == 0);
  }
  ~LegacyTree() {
    std::string rm = absl::StrCat("rm -rf '", root, "'");
    (void)std::system(rm.c_str());
  }
  void File(const std::string& path, bool executable) {
    std::ofstream(root + "/" + path) << "#!/bin/sh\nexit 0\n";
    chmod((root + "/" + path).c_str(), executable ? 0755 : 0644);
  }
};

TEST_CASE("legacy STONITH plugins: the installed ones are listed as stonith -L names them") {
  LegacyTree t;
  CHECK(ListLegacyPlugins(t.paths).empty());  // nothing installed
  t.File("plugins/stonith2/null.so", false);
  t.File("plugins/stonith2/external.so", false);
  t.File("plugins/stonith2/rhcs.so", false);  // a family without members
  t.File("plugins/stonith2/notes.txt", false);
  t.File("plugins/external/ssh", true);
  t.File("plugins/external/README", false);   // not executable: not a member
  CHECK(ListLegacyPlugins(t.paths).empty());  // no adapter: nothing could run them
  t.File("bin/fence_legacy_glue", true);
  CHECK(ListLegacyPlugins(t.paths) == std::vector<std::string>{"external/ssh", "null"});
}

TEST_CASE("legacy STONITH plugins: which types run through the adapter") {
  LegacyTree t;
  t.File("bin/fence_x", true);
  t.File("plugins/stonith2/null.so", false);
  t.File("plugins/stonith2/external.so", false);
  t.File("plugins/stonith2/fence_x.so", false);  // a fence agent of that name wins
  t.File("plugins/external/ssh", true);

  CHECK(KindOfAgent("fence_x", t.paths) == AgentKind::kFenceAgent);
  CHECK(KindOfAgent("fence_missing", t.paths) == AgentKind::kFenceAgent);
  CHECK(KindOfAgent("null", t.paths) == AgentKind::kLegacyPlugin);
  CHECK(KindOfAgent("external/ssh", t.paths) == AgentKind::kLegacyPlugin);
  CHECK(KindOfAgent("external/missing", t.paths) == AgentKind::kLegacyPlugin);

  CHECK(IsValidAgentType("external/ssh"));
  CHECK(IsValidAgentType("null"));
  CHECK_FALSE(IsValidAgentType("external/"));
  CHECK_FALSE(IsValidAgentType("/ssh"));
  CHECK_FALSE(IsValidAgentType("a/b/c"));
  CHECK_FALSE(IsValidAgentType("external/../x"));
  CHECK_FALSE(IsValidAgentType("-x"));
  CHECK(MakeFenceDevice("d", "external/ssh", {}).ok());
  CHECK_FALSE(MakeFenceDevice("d", "external/../ssh", {}).ok());

  // Installed: the adapter is needed for every plugin, the family's member for PREFIX/NAME.
  CHECK(CheckAgentInstalled("fence_x", t.paths).ok());
  CHECK(absl::IsNotFound(CheckAgentInstalled("fence_missing", t.paths)));
  CHECK(absl::IsNotFound(CheckAgentInstalled("null", t.paths)));  // no adapter yet
  t.File("bin/fence_legacy_glue", true);
  CHECK(CheckAgentInstalled("null", t.paths).ok());
  CHECK(CheckAgentInstalled("external/ssh", t.paths).ok());
  CHECK(absl::IsNotFound(CheckAgentInstalled("external/missing", t.paths)));
  CHECK(absl::IsNotFound(CheckAgentInstalled("rhcs/x", t.paths)));  // no rhcs.so
  CHECK(absl::IsInvalidArgument(CheckAgentInstalled("a/b/c", t.paths)));

  // The command: the adapter, with plugin=TYPE after the action (a configured one dropped).
  FenceDevice ssh = Device("external/ssh", {{"hostlist", "n1 n2"}, {"plugin", "other"}});
  absl::StatusOr<lrmd::AgentCommand> cmd = BuildFenceCommand(ssh, "reboot", "n1", t.paths);
  REQUIRE(cmd.ok());
  CHECK(cmd->path == t.paths.bin_dir + "/fence_legacy_glue");
  CHECK(cmd->stdin_data ==
        "action=reboot\nplugin=external/ssh\nnodename=n1\nport=n1\nhostlist=n1 n2\n");
  cmd = BuildFenceCommand(Device("fence_x", {{"plugin", "p"}}), "list", "", t.paths);
  REQUIRE(cmd.ok());
  CHECK(cmd->path == t.paths.bin_dir + "/fence_x");
  CHECK(cmd->stdin_data == "action=list\nplugin=p\n");
  cmd = BuildMetadataCommand("null", t.paths);
  REQUIRE(cmd.ok());
  CHECK(cmd->path == t.paths.bin_dir + "/fence_legacy_glue");
  CHECK(cmd->stdin_data == "action=metadata\nplugin=null\n");
  CHECK_FALSE(BuildMetadataCommand("a/b/c", t.paths).ok());
}

TEST_CASE("cluster-glue's null plugin through the adapter: meta-data, list, status, reboot") {
  if (access("/usr/sbin/stonith", X_OK) != 0 ||
      access("/usr/lib/stonith/plugins/stonith2/null.so", F_OK) != 0) {
    WARN("skipped: cluster-glue's stonith and its null plugin are not installed");
    return;
  }
  LegacyTree t;
  std::string adapter = kTestData + "/../../agents/stonith/fence_legacy_glue";
  REQUIRE(symlink(adapter.c_str(), (t.paths.bin_dir + "/fence_legacy_glue").c_str()) == 0);
  Harness h(t.paths.bin_dir);

  FenceResult md = h.Metadata("null");
  REQUIRE(md.ok());
  absl::StatusOr<FenceAgentMetadata> parsed = ParseFenceAgentMetadata(md.stdout_tail);
  REQUIRE(parsed.ok());
  CHECK(parsed->name == "null");
  REQUIRE(parsed->FindParameter("hostlist") != nullptr);
  CHECK(parsed->FindParameter("hostlist")->required);
  AgentCapabilities caps = parsed->Capabilities();
  CHECK(caps.supports_list);
  CHECK(caps.supports_reboot);
  CHECK(caps.has_port_parameter);

  absl::StatusOr<FenceDevice> null =
      MakeFenceDevice("glue", "null", {{"hostlist", "node-a node-b"}}, caps);
  REQUIRE(null.ok());
  CHECK(null->host_check == HostCheck::kDynamicList);
  FenceResult list = h.Run(*null, "list", "");
  REQUIRE(list.ok());
  CHECK(ParseTargetList(list.stdout_tail) == std::vector<std::string>{"node-a", "node-b"});
  CHECK(DeviceListsTarget(*null, "node-b", ParseTargetList(list.stdout_tail)));
  CHECK(h.Run(*null, "monitor", "").ok());
  CHECK(h.Run(*null, "status", "node-a").power == PowerState::kOn);
  FenceResult unknown = h.Run(*null, "status", "node-c");
  CHECK_FALSE(unknown.ok());
  CHECK(unknown.reason == "null does not control node-c");
  CHECK(h.Run(*null, "reboot", "node-a").ok());
  CHECK(h.Run(*null, "off", "node-b").ok());
  // Without its hostlist the plugin refuses its configuration.
  FenceResult bad = h.Run(Device("null"), "monitor", "");
  CHECK_FALSE(bad.ok());
  CHECK(absl::StrContains(bad.reason, "Invalid config info"));
}

}  // namespace
}  // namespace ha::stonithd
