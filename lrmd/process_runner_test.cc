#include "lrmd/process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lrmd/agent_metadata.h"
#include "lrmd/fake_process_runner.h"

namespace ha::lrmd {
namespace {

const std::string kTestData = HA_LRMD_TESTDATA_DIR;

// A temporary folder, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/lrmd-exec-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = absl::StrCat("rm -rf '", path_, "'");
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The test agents as an OCF root: <tmp>/resource.d -> testdata/agents.
struct TestOcfRoot {
  TempDir dir;
  TestOcfRoot() {
    std::string resource_d = absl::StrCat(dir.path(), "/resource.d");
    REQUIRE(symlink(absl::StrCat(kTestData, "/agents").c_str(), resource_d.c_str()) == 0);
  }
  AgentPaths Paths() const {
    AgentPaths paths;
    paths.ocf_root = dir.path();
    return paths;
  }
};

struct Harness {
  std::unique_ptr<EventLoop> loop;
  RealClock clock;
  std::unique_ptr<PosixProcessRunner> runner;

  explicit Harness(PosixProcessRunner::Options options = {}) {
    auto created = CreateQbEventLoop();
    REQUIRE(created.ok());
    loop = std::move(*created);
    runner = std::make_unique<PosixProcessRunner>(*loop, clock, options);
  }
  ~Harness() { runner.reset(); }  // before the loop

  // Runs `cmd` and the loop until its callback fires (or a 20 s guard does: a failure).
  ProcessOutcome RunToEnd(AgentCommand cmd,
                          absl::Duration timeout = absl::Seconds(10),
                          absl::AnyInvocable<void(ProcessRunner::RunId)> after_start = nullptr) {
    std::optional<ProcessOutcome> result;
    bool in_run = true;
    bool called_inside_run = false;
    ProcessRunner::RunId id = runner->Run(std::move(cmd), timeout, [&](ProcessOutcome o) {
      called_inside_run = in_run;
      result = std::move(o);
      loop->Stop();
    });
    in_run = false;
    CHECK(id > 0);
    if (after_start) {
      after_start(id);
    }
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
    CHECK_FALSE(called_inside_run);
    return std::move(*result);
  }
};

AgentCommand Shell(const std::string& script) {
  AgentCommand cmd;
  cmd.path = "/bin/sh";
  cmd.argv = {"/bin/sh", "-c", script};
  cmd.env = {"PATH=/usr/bin:/bin"};
  return cmd;
}

AgentCommand TestAgent(const TestOcfRoot& root,
                       const std::string& type,
                       const std::string& action,
                       std::map<std::string, std::string> params = {}) {
  ActionRequest req;
  req.resource.id = absl::StrCat("rsc-", type);
  req.resource.provider = "ha-test";
  req.resource.type = type;
  req.resource.params = std::move(params);
  req.action = action;
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, root.Paths());
  REQUIRE(cmd.ok());
  return *cmd;
}

// Processes of group `pgid` that are alive (not zombies waiting for their new parent).
std::vector<pid_t> LiveGroupMembers(pid_t pgid) {
  std::vector<pid_t> members;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) {
    return members;
  }
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    // A process may exit between readdir and read (ESRCH): read with read(2), not a stream that
    // throws, and skip it.
    std::string stat;
    const int fd = open(absl::StrCat("/proc/", pid, "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[1024];
      const ssize_t n = read(fd, buf, sizeof(buf));
      close(fd);
      if (n > 0) {
        stat.assign(buf, static_cast<size_t>(n));
      }
    }
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(paren + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      members.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return members;
}

// Waits up to 3 s for group `pgid` to have no live process.
bool GroupGone(pid_t pgid) {
  for (int i = 0; i < 300; ++i) {
    if (LiveGroupMembers(pgid).empty()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// No child of this process is left unreaped.
bool NoChildrenLeft() {
  int status;
  return waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

TEST_CASE("exit code, stdout and stderr are captured", "[process_runner]") {
  Harness h;
  ProcessOutcome o = h.RunToEnd(Shell("echo out; echo err >&2; exit 3"));
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.exit_code == 3);
  CHECK(o.stdout_tail == "out\n");
  CHECK(o.stderr_tail == "err\n");
  CHECK_FALSE(o.output_truncated);
  CHECK(o.pid > 0);
  CHECK(o.started > absl::Now() - absl::Minutes(1));
  CHECK(o.duration > absl::ZeroDuration());
  CHECK(o.duration < absl::Seconds(10));
  CHECK(NoChildrenLeft());
}

TEST_CASE("the environment is exactly the command's", "[process_runner]") {
  Harness h;
  AgentCommand cmd;
  cmd.path = "/usr/bin/env";
  cmd.argv = {"/usr/bin/env"};
  cmd.env = {"A=1", "OCF_RESKEY_x=two words"};
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.stdout_tail == "A=1\nOCF_RESKEY_x=two words\n");
}

TEST_CASE("stdin is /dev/null or the command's data", "[process_runner]") {
  Harness h;
  AgentCommand cat;
  cat.path = "/bin/cat";
  cat.argv = {"cat"};
  ProcessOutcome empty = h.RunToEnd(cat);
  CHECK(empty.kind == ProcessOutcome::kExited);
  CHECK(empty.exit_code == 0);
  CHECK(empty.stdout_tail.empty());

  cat.stdin_data = "hello\nagent\n";
  ProcessOutcome fed = h.RunToEnd(cat);
  CHECK(fed.stdout_tail == "hello\nagent\n");

  cat.stdin_data = std::string(200 * 1024, 'i');  // more than a default pipe holds
  ProcessOutcome big = h.RunToEnd(cat);
  CHECK(big.kind == ProcessOutcome::kExited);
  CHECK(big.stdout_tail.size() == 64 * 1024);
  CHECK(big.output_truncated);

  cat.stdin_data = std::string(2 * 1024 * 1024, 'i');  // over max_stdin_bytes
  CHECK(h.RunToEnd(cat).kind == ProcessOutcome::kSpawnFailed);
}

TEST_CASE("Hang: a timeout stops the whole process group", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  std::string childpid_file = absl::StrCat(root.dir.path(), "/child.pid");
  ProcessOutcome o = h.RunToEnd(TestAgent(root, "Hang", "start", {{"childpid", childpid_file}}),
                                absl::Milliseconds(700));
  CHECK(o.kind == ProcessOutcome::kTimedOut);
  CHECK(o.signal == SIGTERM);
  CHECK(o.duration >= absl::Milliseconds(700));
  CHECK(o.duration < absl::Seconds(5));
  std::ifstream in(childpid_file);
  pid_t child = 0;
  in >> child;
  CHECK(child > 0);
  CHECK(GroupGone(o.pid));
  CHECK(NoChildrenLeft());

  ActionRequest req;
  req.resource.id = "h";
  req.action = "start";
  req.timeout = absl::Milliseconds(700);
  ActionResult r = MakeActionResult(req, AgentCommand(), o);
  CHECK(r.status == ExecStatus::kTimedOut);
  CHECK(r.exit_code == OcfExitCode::kErrGeneric);
  CHECK_FALSE(r.exit_reason.empty());
}

TEST_CASE("Hang ignoring SIGTERM: SIGKILL after the grace period", "[process_runner]") {
  TestOcfRoot root;
  PosixProcessRunner::Options options;
  options.kill_grace = absl::Milliseconds(300);
  Harness h(options);
  ProcessOutcome o =
      h.RunToEnd(TestAgent(root, "Hang", "start", {{"ignore_term", "1"}}), absl::Milliseconds(500));
  CHECK(o.kind == ProcessOutcome::kTimedOut);
  CHECK(o.signal == SIGKILL);
  CHECK(o.duration >= absl::Milliseconds(800));
  CHECK(GroupGone(o.pid));
  CHECK(NoChildrenLeft());
}

TEST_CASE("Cancel stops a run; its outcome is kCancelled", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  ProcessRunner::RunId cancelled_id = 0;
  ProcessOutcome o =
      h.RunToEnd(TestAgent(root, "Hang", "start"), absl::Seconds(60), [&](ProcessRunner::RunId id) {
        cancelled_id = id;
        h.loop->AddTimer(absl::Milliseconds(200), [&h, id] {
          CHECK(h.runner->Cancel(id).ok());
          CHECK(h.runner->Cancel(id).code() == absl::StatusCode::kNotFound);
        });
      });
  CHECK(o.kind == ProcessOutcome::kCancelled);
  CHECK(o.duration < absl::Seconds(5));
  CHECK(GroupGone(o.pid));
  CHECK(h.runner->Cancel(cancelled_id).code() == absl::StatusCode::kNotFound);
  CHECK(h.runner->Cancel(12345).code() == absl::StatusCode::kNotFound);
  CHECK(h.runner->running() == 0);
  CHECK(NoChildrenLeft());
}

TEST_CASE("Cancel before a not-installed run is delivered", "[process_runner]") {
  Harness h;
  AgentCommand cmd;
  cmd.path = "/nonexistent/agent";
  ProcessOutcome o = h.RunToEnd(
      cmd, absl::Seconds(1), [&h](ProcessRunner::RunId id) { CHECK(h.runner->Cancel(id).ok()); });
  CHECK(o.kind == ProcessOutcome::kCancelled);
}

TEST_CASE("Crash: killed by SIGSEGV", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  ProcessOutcome o = h.RunToEnd(TestAgent(root, "Crash", "start"));
  CHECK(o.kind == ProcessOutcome::kSignaled);
  CHECK(o.signal == SIGSEGV);
  ActionRequest req;
  req.action = "start";
  ActionResult r = MakeActionResult(req, TestAgent(root, "Crash", "start"), o);
  CHECK(r.status == ExecStatus::kError);
  CHECK(r.exit_code == OcfExitCode::kErrGeneric);
  CHECK(r.exit_reason.find("SEGV") != std::string::npos);
}

TEST_CASE("Chatty: output is bounded to its tail and marked truncated", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  ProcessOutcome o = h.RunToEnd(TestAgent(root, "Chatty", "start"));
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.exit_code == 0);
  CHECK(o.output_truncated);
  CHECK(o.stdout_tail.size() == 64 * 1024);
  CHECK(o.stdout_tail.size() >= 11);
  CHECK(o.stdout_tail.substr(o.stdout_tail.size() - 11) == "CHATTY-END\n");
  CHECK(o.stdout_tail.substr(0, 100) == std::string(100, 'x'));
  CHECK(o.stderr_tail.empty());
}

TEST_CASE("Chatty with a small limit", "[process_runner]") {
  TestOcfRoot root;
  PosixProcessRunner::Options options;
  options.max_output_bytes = 100;
  Harness h(options);
  ProcessOutcome o = h.RunToEnd(TestAgent(root, "Chatty", "start"));
  CHECK(o.stdout_tail.size() == 100);
  CHECK(o.output_truncated);
  CHECK(o.stdout_tail.substr(89) == "CHATTY-END\n");
}

TEST_CASE("WrongCode: exit 42 maps to kErrGeneric, the raw code is kept", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  AgentCommand cmd = TestAgent(root, "WrongCode", "start");
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.exit_code == 42);
  ActionRequest req;
  req.resource.id = "w";
  req.action = "start";
  ActionResult r = MakeActionResult(req, cmd, o);
  CHECK(r.status == ExecStatus::kDone);
  CHECK(r.exit_code == OcfExitCode::kErrGeneric);
  CHECK(r.raw_exit_code == 42);
  CHECK(r.resource_id == "w");
}

TEST_CASE("NeedsParam: the missing parameter and its exit reason", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  ProcessOutcome md_run = h.RunToEnd(TestAgent(root, "NeedsParam", "meta-data"));
  REQUIRE(md_run.exit_code == 0);
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(md_run.stdout_tail);
  REQUIRE(md.ok());
  CHECK(MissingRequiredParams(*md, {}) == std::vector<std::string>{"file"});

  AgentCommand cmd = TestAgent(root, "NeedsParam", "start");
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.exit_code == 6);
  ActionRequest req;
  req.action = "start";
  ActionResult r = MakeActionResult(req, cmd, o);
  CHECK(r.status == ExecStatus::kDone);
  CHECK(r.exit_code == OcfExitCode::kErrConfigured);
  CHECK(r.exit_reason == "missing parameter file");

  ProcessOutcome with = h.RunToEnd(TestAgent(root, "NeedsParam", "start", {{"file", "/x"}}));
  CHECK(with.kind == ProcessOutcome::kExited);
  CHECK(with.exit_code == 0);
}

TEST_CASE("NotExec and a missing agent are not installed", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  // A copy, so that the check does not depend on the mode the checkout gave the file.
  std::string copy = absl::StrCat(root.dir.path(), "/NotExec");
  std::string cmdline = absl::StrCat("cp '", kTestData, "/agents/ha-test/NotExec' '", copy, "'");
  REQUIRE(std::system(cmdline.c_str()) == 0);
  REQUIRE(chmod(copy.c_str(), 0644) == 0);
  AgentCommand cmd;
  cmd.path = copy;
  cmd.argv = {copy, "start"};
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.kind == ProcessOutcome::kNotInstalled);
  CHECK(o.error.find("not executable") != std::string::npos);
  CHECK(o.pid == -1);

  ProcessOutcome in_tree = h.RunToEnd(TestAgent(root, "NotExec", "start"));
  CHECK(in_tree.kind == ProcessOutcome::kNotInstalled);

  AgentCommand missing = TestAgent(root, "NoSuchAgent", "start");
  ProcessOutcome m = h.RunToEnd(missing);
  CHECK(m.kind == ProcessOutcome::kNotInstalled);
  CHECK(m.error.find("No such file") != std::string::npos);
  ActionRequest req;
  req.action = "start";
  ActionResult r = MakeActionResult(req, missing, m);
  CHECK(r.status == ExecStatus::kNotInstalled);
  CHECK(r.exit_code == OcfExitCode::kErrInstalled);
  CHECK_FALSE(r.exit_reason.empty());

  AgentCommand dir;
  dir.path = "/tmp";
  CHECK(h.RunToEnd(dir).kind == ProcessOutcome::kNotInstalled);
}

TEST_CASE("exec failing after fork is reported", "[process_runner]") {
  TempDir tmp;
  std::string path = absl::StrCat(tmp.path(), "/garbage");
  {
    std::ofstream out(path);
    out << "\x01\x02\x03 not a script and not ELF";
  }
  REQUIRE(chmod(path.c_str(), 0755) == 0);
  Harness h;
  AgentCommand cmd;
  cmd.path = path;
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.kind == ProcessOutcome::kSpawnFailed);
  CHECK(o.error.find("execve") != std::string::npos);
  CHECK(NoChildrenLeft());
}

TEST_CASE("synthesized meta-data completes without running anything", "[process_runner]") {
  Harness h;
  ActionRequest req;
  req.resource.agent_class = AgentClass::kSystemd;
  req.resource.type = "does-not-exist";
  req.action = "meta-data";
  absl::StatusOr<AgentCommand> cmd = BuildAgentCommand(req, AgentPaths());
  REQUIRE(cmd.ok());
  ProcessOutcome o = h.RunToEnd(*cmd);
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.exit_code == 0);
  CHECK(o.pid == -1);
  absl::StatusOr<AgentMetadata> md = ParseAgentMetadata(o.stdout_tail);
  REQUIRE(md.ok());
  CHECK(md->name == "does-not-exist");
}

TEST_CASE("background children survive a normal exit unless asked", "[process_runner]") {
  for (bool kill_after_exit : {false, true}) {
    INFO("kill_group_after_exit=" << kill_after_exit);
    PosixProcessRunner::Options options;
    options.kill_group_after_exit = kill_after_exit;
    Harness h(options);
    ProcessOutcome o = h.RunToEnd(Shell("sleep 1000 >/dev/null 2>&1 & echo $!"));
    CHECK(o.kind == ProcessOutcome::kExited);
    pid_t child = std::atoi(o.stdout_tail.c_str());
    REQUIRE(child > 0);
    if (kill_after_exit) {
      CHECK(GroupGone(o.pid));
    } else {
      CHECK(kill(child, 0) == 0);
      CHECK_FALSE(LiveGroupMembers(o.pid).empty());
      kill(-o.pid, SIGKILL);
      CHECK(GroupGone(o.pid));
    }
  }
}

TEST_CASE("a background child holding stdout open does not delay completion", "[process_runner]") {
  Harness h;
  ProcessOutcome o = h.RunToEnd(Shell("sleep 1000 & echo leader-done"));
  CHECK(o.kind == ProcessOutcome::kExited);
  CHECK(o.stdout_tail == "leader-done\n");
  CHECK(o.duration < absl::Seconds(5));
  kill(-o.pid, SIGKILL);
  CHECK(GroupGone(o.pid));
}

TEST_CASE("many runs at once all complete and are reaped", "[process_runner]") {
  Harness h;
  constexpr int kRuns = 25;
  int done = 0;
  int ok = 0;
  for (int i = 0; i < kRuns; ++i) {
    h.runner->Run(Shell(absl::StrCat("echo ", i, "; exit ", i % 3)),
                  absl::Seconds(10),
                  [&, i](ProcessOutcome o) {
                    if (o.kind == ProcessOutcome::kExited && o.exit_code == i % 3 &&
                        o.stdout_tail == absl::StrCat(i, "\n")) {
                      ++ok;
                    }
                    if (++done == kRuns) {
                      h.loop->Stop();
                    }
                  });
  }
  bool guard_fired = false;
  EventLoop::TimerId guard = h.loop->AddTimer(absl::Seconds(20), [&] {
    guard_fired = true;
    h.loop->Stop();
  });
  h.loop->Run();
  h.loop->CancelTimer(guard);
  REQUIRE_FALSE(guard_fired);
  CHECK(ok == kRuns);
  CHECK(h.runner->running() == 0);
  CHECK(NoChildrenLeft());
}

TEST_CASE("destroying the runner kills and reaps what still runs", "[process_runner]") {
  TestOcfRoot root;
  Harness h;
  bool called = false;
  h.runner->Run(
      TestAgent(root, "Hang", "start"), absl::Seconds(60), [&](ProcessOutcome) { called = true; });
  h.loop->AddTimer(absl::Milliseconds(200), [&] { h.loop->Stop(); });
  h.loop->Run();
  REQUIRE(h.runner->running() == 1);
  h.runner.reset();
  CHECK_FALSE(called);
  CHECK(NoChildrenLeft());
}

TEST_CASE("FakeProcessRunner records and completes when told", "[process_runner]") {
  FakeProcessRunner fake;
  std::vector<ProcessOutcome> outcomes;
  AgentCommand cmd = Shell("true");
  ProcessRunner::RunId a =
      fake.Run(cmd, absl::Seconds(5), [&](ProcessOutcome o) { outcomes.push_back(o); });
  ProcessRunner::RunId b =
      fake.Run(cmd, absl::Seconds(7), [&](ProcessOutcome o) { outcomes.push_back(o); });
  CHECK(a != b);
  CHECK(fake.calls().size() == 2);
  CHECK(fake.LastCall()->timeout == absl::Seconds(7));
  CHECK(fake.pending() == std::vector<ProcessRunner::RunId>{a, b});
  CHECK(fake.Cancel(b).ok());
  CHECK(fake.FindCall(b)->cancel_requested);
  CHECK(fake.ExitForTest(a, 7, "out"));
  CHECK_FALSE(fake.ExitForTest(a, 0));
  CHECK(fake.CompleteCancelledForTest(b));
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].exit_code == 7);
  CHECK(outcomes[0].stdout_tail == "out");
  CHECK(outcomes[1].kind == ProcessOutcome::kCancelled);
  CHECK(fake.Cancel(a).code() == absl::StatusCode::kNotFound);
  CHECK(fake.pending().empty());
}

TEST_CASE("run_as: the child drops groups, gid and uid before exec", "[process_runner]") {
  if (geteuid() != 0) {
    WARN("skipped: switching users needs root");
    return;
  }
  absl::StatusOr<RunAs> nobody = LookupUser("nobody");
  if (!nobody.ok()) {
    WARN("skipped: no user nobody");
    return;
  }
  Harness h;
  AgentCommand cmd =
      Shell("echo \"$(id -u) $(id -g) $(id -G)\"; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
  cmd.run_as = *nobody;
  ProcessOutcome o = h.RunToEnd(cmd);
  REQUIRE(o.kind == ProcessOutcome::kExited);
  CHECK(o.exit_code == 0);
  const std::string uid = absl::StrCat(nobody->uid);
  const std::string gid = absl::StrCat(nobody->gid);
  std::istringstream lines(o.stdout_tail);
  std::string ids;
  std::getline(lines, ids);
  CHECK(ids == absl::StrCat(uid, " ", gid, " ", gid));  // the only group is its own gid
  // Real, effective, saved and file-system ids all switched; no supplementary group is left.
  CHECK(o.stdout_tail.find(absl::StrCat("Uid:\t", uid, "\t", uid, "\t", uid, "\t", uid)) !=
        std::string::npos);
  CHECK(o.stdout_tail.find(absl::StrCat("Gid:\t", gid, "\t", gid, "\t", gid, "\t", gid)) !=
        std::string::npos);
  CHECK(o.stdout_tail.find("Groups:\t \n") != std::string::npos);  // the kernel's empty list

  // Without run_as, lrmd's own user.
  ProcessOutcome as_root = h.RunToEnd(Shell("id -u"));
  CHECK(as_root.stdout_tail == "0\n");
}

TEST_CASE("run_as: an agent the user may not execute is not installed for it", "[process_runner]") {
  if (geteuid() != 0) {
    WARN("skipped: switching users needs root");
    return;
  }
  absl::StatusOr<RunAs> nobody = LookupUser("nobody");
  if (!nobody.ok()) {
    WARN("skipped: no user nobody");
    return;
  }
  TempDir dir;  // mode 0700: nobody cannot reach into it
  std::string path = absl::StrCat(dir.path(), "/agent");
  {
    std::ofstream out(path);
    out << "#!/bin/sh\nexit 0\n";
  }
  REQUIRE(chmod(path.c_str(), 0755) == 0);
  Harness h;
  AgentCommand cmd;
  cmd.path = path;
  cmd.argv = {path, "meta-data"};
  cmd.run_as = *nobody;
  ProcessOutcome o = h.RunToEnd(cmd);
  CHECK(o.kind == ProcessOutcome::kNotInstalled);
  CHECK(o.error.find("Permission denied") != std::string::npos);
  CHECK(o.error.find("as user nobody") != std::string::npos);
  cmd.run_as.reset();
  CHECK(h.RunToEnd(cmd).kind == ProcessOutcome::kExited);
  CHECK(NoChildrenLeft());
}

TEST_CASE("ResolveClusterUser: configured, else hacluster, else nobody", "[process_runner]") {
  absl::StatusOr<RunAs> root = ResolveClusterUser("root");
  REQUIRE(root.ok());
  CHECK(root->uid == 0);
  CHECK(root->name == "root");
  CHECK(ResolveClusterUser("no-such-user-here").status().code() == absl::StatusCode::kNotFound);
  absl::StatusOr<RunAs> fallback = ResolveClusterUser("");
  if (LookupUser("hacluster").ok()) {
    REQUIRE(fallback.ok());
    CHECK(fallback->name == "hacluster");
  } else if (LookupUser("nobody").ok()) {
    REQUIRE(fallback.ok());
    CHECK(fallback->name == "nobody");
  }
}

}  // namespace
}  // namespace ha::lrmd
