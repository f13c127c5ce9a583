#include "common/logging.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ha::log {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("HA_DEBUG values") {
  CHECK(ParseDebugEnv("yes") == std::vector<std::string>{"*"});
  CHECK(ParseDebugEnv("0").empty());
  CHECK(ParseDebugEnv("Totem, cpg") == std::vector<std::string>{"totem", "cpg"});
}

// One test case: qb_log is process-wide and is initialised once.
TEST_CASE("file logging, per-subsystem debug switches and the flight recorder") {
  std::string dir =
      std::filesystem::temp_directory_path() / ("ha-log-test-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  LogSetup setup;
  setup.daemon = "testd";
  setup.config.to_syslog = false;
  setup.config.to_logfile = true;
  setup.config.logfile = dir + "/test.log";
  setup.config.subsystems.push_back({.subsys = "QUORUM", .debug = "on"});
  setup.blackbox_dir = dir + "/blackbox";
  setup.env_debug = "cpg";
  REQUIRE(Init(setup).ok());

  HA_LOG_INFO("totem", "info line %d", 1);
  HA_LOG_DEBUG("totem", "hidden debug line");
  HA_LOG_DEBUG("quorum", "quorum debug line");  // from logger_subsys
  HA_LOG_DEBUG("cpg", "cpg debug line");        // from HA_DEBUG
  CHECK(DebugSubsystems() == std::vector<std::string>{"cpg", "quorum"});

  SetDebug({"totem"}, true);
  HA_LOG_DEBUG("totem", "visible debug line");
  SetDebug({"totem"}, false);
  HA_LOG_DEBUG("totem", "hidden again");

  ToggleDebug();  // SIGUSR1: everything
  CHECK(DebugSubsystems() == std::vector<std::string>{"*"});
  HA_LOG_DEBUG("main", "toggled debug line");
  ToggleDebug();  // back to the configured set
  CHECK(DebugSubsystems() == std::vector<std::string>{"cpg", "quorum"});
  HA_LOG_DEBUG("main", "untoggled debug line");

  std::string log = ReadFile(setup.config.logfile);
  CHECK(log.find("testd[") != std::string::npos);
  CHECK(log.find("[totem] info line 1") != std::string::npos);
  CHECK(log.find("hidden debug line") == std::string::npos);
  CHECK(log.find("[quorum] quorum debug line") != std::string::npos);
  CHECK(log.find("[cpg] cpg debug line") != std::string::npos);
  CHECK(log.find("visible debug line") != std::string::npos);
  CHECK(log.find("hidden again") == std::string::npos);
  CHECK(log.find("toggled debug line") != std::string::npos);
  CHECK(log.find("untoggled debug line") == std::string::npos);

  // The flight recorder has everything, debug lines that the file did not get included.
  auto dump = DumpBlackbox();
  REQUIRE(dump.ok());
  CHECK(std::filesystem::file_size(*dump) > 0);
  // PrintBlackboxFile writes to stdout: run it in a child whose stdout is a file.
  std::string printed = dir + "/printed.txt";
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (freopen(printed.c_str(), "w", stdout) == nullptr) {
      _exit(2);
    }
    _exit(PrintBlackboxFile(*dump).ok() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string text = ReadFile(printed);
  CHECK(text.find("hidden debug line") != std::string::npos);
  CHECK(text.find("untoggled debug line") != std::string::npos);

  CHECK(PrintBlackboxFile(dir + "/missing.bb").code() == absl::StatusCode::kNotFound);
  Shutdown();
}

}  // namespace
}  // namespace ha::log
