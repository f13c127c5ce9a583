#include "lrmd/agent_command.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace ha::lrmd {
namespace {

AgentPaths TestPaths(bool systemd = false) {
  AgentPaths paths;
  paths.ocf_root = "/ocf";
  paths.init_dir = "/init.d";
  paths.systemctl = "/bin/systemctl";
  paths.base_env = {"PATH=/bin", "LANG=C", "OCF_ROOT=/wrong"};
  paths.systemd_running = [systemd] { return systemd; };
  return paths;
}

ActionRequest Ocf(std::string action) {
  ActionRequest req;
  req.resource.id = "db1";
  req.resource.agent_class = AgentClass::kOcf;
  req.resource.provider = "heartbeat";
  req.resource.type = "Dummy";
  req.action = std::move(action);
  return req;
}

bool HasEnv(const AgentCommand& cmd, const std::string& entry) {
  return std::find(cmd.env.begin(), cmd.env.end(), entry) != cmd.env.end();
}

int CountKey(const AgentCommand& cmd, const std::string& key) {
  return static_cast<int>(std::count_if(cmd.env.begin(), cmd.env.end(), [&](const std::string& e) {
    return e.rfind(key + "=", 0) == 0;
  }));
}

TEST_CASE("OCF: path, argv and the API 1.1 environment", "[agent_command]") {
  ActionRequest req = Ocf("monitor");
  req.resource.params = {{"state", "/tmp/s"}, {"fake-ish", "x y"}};
  req.meta = {{"clone-max", "2"}, {"notify", "true"}};
  req.interval = absl::Seconds(10);
  req.timeout = absl::Seconds(30);
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, TestPaths());
  REQUIRE(cmd.ok());
  CHECK(cmd->path == "/ocf/resource.d/heartbeat/Dummy");
  CHECK(cmd->argv == std::vector<std::string>{"/ocf/resource.d/heartbeat/Dummy", "monitor"});
  CHECK(cmd->agent_class == AgentClass::kOcf);
  CHECK_FALSE(cmd->synthesized_metadata);
  CHECK(cmd->stdin_data.empty());
  CHECK(HasEnv(*cmd, "PATH=/bin"));
  CHECK(HasEnv(*cmd, "LANG=C"));
  CHECK(HasEnv(*cmd, "OCF_ROOT=/ocf"));
  CHECK(CountKey(*cmd, "OCF_ROOT") == 1);  // ours replaces base_env's
  CHECK(HasEnv(*cmd, "OCF_FUNCTIONS_DIR=/ocf/lib/heartbeat"));
  CHECK(HasEnv(*cmd, "OCF_RA_VERSION_MAJOR=1"));
  CHECK(HasEnv(*cmd, "OCF_RA_VERSION_MINOR=1"));
  CHECK(HasEnv(*cmd, "OCF_RESOURCE_INSTANCE=db1"));
  CHECK(HasEnv(*cmd, "OCF_RESOURCE_TYPE=Dummy"));
  CHECK(HasEnv(*cmd, "OCF_RESOURCE_PROVIDER=heartbeat"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_state=/tmp/s"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_fake-ish=x y"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_clone_max=2"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_notify=true"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_interval=10000"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_timeout=30000"));
}

TEST_CASE("OCF: interval and timeout are always set, and win over meta", "[agent_command]") {
  ActionRequest req = Ocf("start");
  req.meta = {{"timeout", "1"}, {"interval", "2"}};
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, TestPaths());
  REQUIRE(cmd.ok());
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_interval=0"));
  CHECK(HasEnv(*cmd, "OCF_RESKEY_CRM_meta_timeout=20000"));
  CHECK(CountKey(*cmd, "OCF_RESKEY_CRM_meta_timeout") == 1);
}

TEST_CASE("OCF: names that could leave the agent folder are refused", "[agent_command]") {
  for (std::string bad :
       std::vector<std::string>{"../x", "a/b", "..", ".hidden", "", "a..b", "a\nb"}) {
    INFO("name: " << bad);
    ActionRequest req = Ocf("start");
    req.resource.provider = bad;
    CHECK(BuildAgentCommand(req, TestPaths()).status().code() ==
          absl::StatusCode::kInvalidArgument);
    req = Ocf("start");
    req.resource.type = bad;
    CHECK(BuildAgentCommand(req, TestPaths()).status().code() ==
          absl::StatusCode::kInvalidArgument);
    req = Ocf(bad);
    CHECK(BuildAgentCommand(req, TestPaths()).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(BuildAgentCommand(Ocf("--help"), TestPaths()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("OCF: parameter and meta names must be [A-Za-z0-9_-]+", "[agent_command]") {
  for (std::string bad : {"a b", "a=b", "", "x$y", "ä", "a.b"}) {
    INFO("name: " << bad);
    ActionRequest req = Ocf("start");
    req.resource.params = {{bad, "1"}};
    CHECK(BuildAgentCommand(req, TestPaths()).status().code() ==
          absl::StatusCode::kInvalidArgument);
    req = Ocf("start");
    req.meta = {{bad, "1"}};
    CHECK(BuildAgentCommand(req, TestPaths()).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  ActionRequest req = Ocf("start");
  req.resource.params = {{"ok_Name-1", std::string("a\0b", 3)}};
  CHECK(BuildAgentCommand(req, TestPaths()).status().code() == absl::StatusCode::kInvalidArgument);
  req.resource.params = {{"ok_Name-1", "any value; $(even) `this`"}};
  CHECK(BuildAgentCommand(req, TestPaths()).ok());
}

TEST_CASE("LSB: init script, monitor runs status, meta-data is synthesized", "[agent_command]") {
  ActionRequest req = Ocf("monitor");
  req.resource.agent_class = AgentClass::kLsb;
  req.resource.provider = "";
  req.resource.type = "nginx";
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, TestPaths());
  REQUIRE(cmd.ok());
  CHECK(cmd->path == "/init.d/nginx");
  CHECK(cmd->argv == std::vector<std::string>{"/init.d/nginx", "status"});
  CHECK(cmd->agent_class == AgentClass::kLsb);
  CHECK(cmd->env == std::vector<std::string>{"PATH=/bin", "LANG=C", "OCF_ROOT=/wrong"});

  req.action = "start";
  cmd = BuildAgentCommand(req, TestPaths());
  REQUIRE(cmd.ok());
  CHECK(cmd->argv == std::vector<std::string>{"/init.d/nginx", "start"});

  // meta-data is made up from the script's INIT INFO block; a script that is not there has none.
  req.action = "meta-data";
  CHECK(BuildAgentCommand(req, TestPaths()).status().code() == absl::StatusCode::kNotFound);
  AgentPaths testdata = TestPaths();
  testdata.init_dir = HA_LRMD_TESTDATA_DIR "/init.d";
  req.resource.type = "ha-lsbtest";
  cmd = BuildAgentCommand(req, testdata);
  REQUIRE(cmd.ok());
  CHECK(cmd->synthesized_metadata);
  CHECK(cmd->synthesized_output.find("<resource-agent name=\"ha-lsbtest\"") != std::string::npos);
  CHECK(cmd->synthesized_output.find("lrmd's LSB test service") != std::string::npos);

  req.resource.type = "../../bin/sh";
  CHECK(BuildAgentCommand(req, TestPaths()).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("systemd: systemctl commands and unit names", "[agent_command]") {
  ActionRequest req = Ocf("start");
  req.resource.agent_class = AgentClass::kSystemd;
  req.resource.type = "nginx";
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, TestPaths());
  REQUIRE(cmd.ok());
  CHECK(cmd->path == "/bin/systemctl");
  CHECK(cmd->argv == std::vector<std::string>{"/bin/systemctl", "start", "nginx.service"});
  req.action = "stop";
  CHECK(BuildAgentCommand(req, TestPaths())->argv ==
        std::vector<std::string>{"/bin/systemctl", "stop", "nginx.service"});
  req.action = "status";
  CHECK(BuildAgentCommand(req, TestPaths())->argv ==
        std::vector<std::string>{"/bin/systemctl", "status", "nginx.service"});
  req.action = "monitor";
  CHECK(BuildAgentCommand(req, TestPaths())->argv ==
        std::vector<std::string>{"/bin/systemctl", "is-active", "--quiet", "nginx.service"});
  req.action = "meta-data";
  CHECK(BuildAgentCommand(req, TestPaths())->synthesized_metadata);
  req.action = "promote";
  CHECK(BuildAgentCommand(req, TestPaths()).status().code() == absl::StatusCode::kUnimplemented);
  req.action = "start";
  req.resource.type = "--now";
  CHECK(BuildAgentCommand(req, TestPaths()).status().code() == absl::StatusCode::kInvalidArgument);

  CHECK(SystemdUnitName("nginx") == "nginx.service");
  CHECK(SystemdUnitName("nginx.service") == "nginx.service");
  CHECK(SystemdUnitName("getty@tty1") == "getty@tty1.service");
  CHECK(SystemdUnitName("my.app") == "my.app.service");
  CHECK(SystemdUnitName("data.mount") == "data.mount");
  CHECK(SystemdUnitName("x.socket") == "x.socket");
}

TEST_CASE("service resolves to systemd or LSB by the injected predicate", "[agent_command]") {
  ActionRequest req = Ocf("start");
  req.resource.agent_class = AgentClass::kService;
  req.resource.type = "cron";
  absl::StatusOr<AgentCommand> with_systemd = BuildAgentCommand(req, TestPaths(true));
  REQUIRE(with_systemd.ok());
  CHECK(with_systemd->agent_class == AgentClass::kSystemd);
  CHECK(with_systemd->argv == std::vector<std::string>{"/bin/systemctl", "start", "cron.service"});
  absl::StatusOr<AgentCommand> without = BuildAgentCommand(req, TestPaths(false));
  REQUIRE(without.ok());
  CHECK(without->agent_class == AgentClass::kLsb);
  CHECK(without->argv == std::vector<std::string>{"/init.d/cron", "start"});
}

TEST_CASE("MapExitCode: OCF codes", "[agent_command]") {
  for (int rc = 0; rc <= 9; ++rc) {
    CHECK(MapExitCode(AgentClass::kOcf, "start", rc) == static_cast<OcfExitCode>(rc));
  }
  CHECK(MapExitCode(AgentClass::kOcf, "monitor", 8) == OcfExitCode::kRunningPromoted);
  CHECK(MapExitCode(AgentClass::kOcf, "start", 10) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kOcf, "start", 42) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kOcf, "start", 127) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kOcf, "start", -1) == OcfExitCode::kErrGeneric);
}

TEST_CASE("MapExitCode: LSB codes", "[agent_command]") {
  for (std::string action : {"monitor", "status"}) {
    CHECK(MapExitCode(AgentClass::kLsb, action, 0) == OcfExitCode::kOk);
    CHECK(MapExitCode(AgentClass::kLsb, action, 1) == OcfExitCode::kNotRunning);
    CHECK(MapExitCode(AgentClass::kLsb, action, 2) == OcfExitCode::kNotRunning);
    CHECK(MapExitCode(AgentClass::kLsb, action, 3) == OcfExitCode::kNotRunning);
    CHECK(MapExitCode(AgentClass::kLsb, action, 4) == OcfExitCode::kErrGeneric);
    CHECK(MapExitCode(AgentClass::kLsb, action, 150) == OcfExitCode::kErrInstalled);
    CHECK(MapExitCode(AgentClass::kLsb, action, 151) == OcfExitCode::kErrPerm);
    CHECK(MapExitCode(AgentClass::kLsb, action, 152) == OcfExitCode::kErrGeneric);
    CHECK(MapExitCode(AgentClass::kLsb, action, 7) == OcfExitCode::kErrGeneric);
  }
  CHECK(MapExitCode(AgentClass::kLsb, "start", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kLsb, "start", 1) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kLsb, "start", 5) == OcfExitCode::kErrInstalled);
  CHECK(MapExitCode(AgentClass::kLsb, "start", 7) == OcfExitCode::kNotRunning);  // as Pacemaker
  CHECK(MapExitCode(AgentClass::kLsb, "start", 150) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kLsb, "start", 99) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kLsb, "stop", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kLsb, "stop", 7) == OcfExitCode::kOk);  // already stopped
  CHECK(MapExitCode(AgentClass::kService, "status", 3) == OcfExitCode::kNotRunning);
}

TEST_CASE("MapExitCode: systemd", "[agent_command]") {
  CHECK(MapExitCode(AgentClass::kSystemd, "monitor", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kSystemd, "monitor", 3) == OcfExitCode::kNotRunning);
  CHECK(MapExitCode(AgentClass::kSystemd, "monitor", 4) == OcfExitCode::kNotRunning);
  CHECK(MapExitCode(AgentClass::kSystemd, "status", 3) == OcfExitCode::kNotRunning);
  CHECK(MapExitCode(AgentClass::kSystemd, "start", 0) == OcfExitCode::kOk);
  CHECK(MapExitCode(AgentClass::kSystemd, "start", 1) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kSystemd, "stop", 1) == OcfExitCode::kErrGeneric);
  CHECK(MapExitCode(AgentClass::kSystemd, "start", 5) == OcfExitCode::kErrInstalled);
  CHECK(MapExitCode(AgentClass::kSystemd, "stop", 5) == OcfExitCode::kErrInstalled);
}

TEST_CASE("ParseExitReason: last line, trimmed, bounded", "[agent_command]") {
  CHECK(ParseExitReason("") == "");
  CHECK(ParseExitReason("nothing here\n") == "");
  CHECK(ParseExitReason("ocf-exitreason:missing parameter file\n") == "missing parameter file");
  CHECK(ParseExitReason("ocf-exit-reason:IP address (the ip parameter) is mandatory\n") ==
        "IP address (the ip parameter) is mandatory");
  CHECK(ParseExitReason("a\nocf-exitreason:  first \nb\nocf-exitreason:\tsecond  \r\nc\n") ==
        "second");
  CHECK(ParseExitReason("  ocf-exitreason:indented does not count\n") == "");
  CHECK(ParseExitReason("ocf-exitreason:no newline") == "no newline");
  std::string reason = ParseExitReason("ocf-exitreason:" + std::string(500, 'r') + "\n");
  CHECK(reason == std::string(kMaxExitReasonBytes, 'r'));
  // A two-byte character across the limit is dropped whole.
  std::string text = "ocf-exitreason:" + std::string(kMaxExitReasonBytes - 1, 'a') + "\xc3\xa9xyz";
  std::string cut = ParseExitReason(text);
  CHECK(cut == std::string(kMaxExitReasonBytes - 1, 'a'));
}

TEST_CASE("Only meta-data runs as the unprivileged user", "[agent_command]") {
  AgentPaths paths = TestPaths();
  paths.unprivileged = RunAs{102, 105, "hacluster"};
  for (const char* action :
       {"start", "stop", "monitor", "promote", "demote", "notify", "reload", "validate-all"}) {
    INFO(action);
    absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(Ocf(action), paths);
    REQUIRE(cmd.ok());
    CHECK_FALSE(cmd->run_as.has_value());
  }
  absl::StatusOr<AgentCommand> metadata = BuildAgentCommand(Ocf("meta-data"), paths);
  REQUIRE(metadata.ok());
  REQUIRE(metadata->run_as.has_value());
  CHECK(metadata->run_as->uid == 102);
  CHECK(metadata->run_as->gid == 105);
  // Without an unprivileged user, meta-data runs as lrmd's user too.
  metadata = BuildAgentCommand(Ocf("meta-data"), TestPaths());
  REQUIRE(metadata.ok());
  CHECK_FALSE(metadata->run_as.has_value());
  // LSB and systemd actions run as lrmd's user (their meta-data runs nothing).
  ActionRequest lsb = Ocf("status");
  lsb.resource.agent_class = AgentClass::kLsb;
  CHECK_FALSE(BuildAgentCommand(lsb, paths)->run_as.has_value());
}

}  // namespace
}  // namespace ha::lrmd
