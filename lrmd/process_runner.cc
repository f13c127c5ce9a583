#include "lrmd/process_runner.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "lrmd/stonith_actions.h"

namespace ha::lrmd {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// How often the exit is polled for when the kernel has no pidfd_open (before Linux 5.3).
constexpr absl::Duration kExitPollPeriod = absl::Milliseconds(50);

// Keeps the last `max` bytes written to it.
struct OutputTail {
  std::string data;
  bool truncated = false;

  void Append(const char* bytes, size_t n, size_t max) {
    if (n >= max) {
      data.assign(bytes + (n - max), max);
      truncated = true;
      return;
    }
    data.append(bytes, n);
    if (data.size() > max) {
      data.erase(0, data.size() - max);
      truncated = true;
    }
  }
};

std::string Errno(absl::string_view what, int err) {
  return absl::StrCat(what, ": ", strerror(err));
}

void CloseFd(int& fd) {
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
}

// Where the child failed, as it reports on the exec-error pipe.
constexpr int kStageExec = 0;
constexpr int kStageSetgroups = 1;
constexpr int kStageSetgid = 2;
constexpr int kStageSetuid = 3;

const char* StageName(int stage) {
  switch (stage) {
    case kStageSetgroups:
      return "setgroups for";
    case kStageSetgid:
      return "setgid for";
    case kStageSetuid:
      return "setuid for";
    default:
      return "execve";
  }
}

const char* SignalName(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev != nullptr ? abbrev : "?";
}

}  // namespace

const char* ProcessOutcomeKindName(ProcessOutcome::Kind kind) {
  switch (kind) {
    case ProcessOutcome::kExited:
      return "exited";
    case ProcessOutcome::kSignaled:
      return "signaled";
    case ProcessOutcome::kTimedOut:
      return "timed out";
    case ProcessOutcome::kCancelled:
      return "cancelled";
    case ProcessOutcome::kSpawnFailed:
      return "spawn failed";
    case ProcessOutcome::kNotInstalled:
      return "not installed";
  }
  return "?";
}

struct PosixProcessRunner::RunState {
  RunId id = 0;
  std::string path;
  std::string run_as;  // the user it runs as, when not lrmd's own
  pid_t pid = -1;      // also the process group id; -1 once reaped (or never started)
  int pidfd = -1;
  int out_fd = -1;
  int err_fd = -1;
  int exec_error_fd = -1;  // the child writes execve's errno here; EOF when exec succeeded
  OutputTail out;
  OutputTail err;
  absl::Time started_mono;
  EventLoop::TimerId timeout_timer = 0;
  EventLoop::TimerId kill_timer = 0;
  EventLoop::TimerId poll_timer = 0;
  EventLoop::TimerId deliver_timer = 0;
  std::optional<ProcessOutcome::Kind> stopped_as;  // kTimedOut or kCancelled, once we signalled
  bool completed = false;                          // the outcome is final; only delivery is left
  ProcessOutcome outcome;
  DoneCallback done;
};

int KillOrphanedAgents(const std::string& owner_tag) {
  if (owner_tag.empty())
    return 0;
  const std::string marker = "HA_LRMD_OWNER=" + owner_tag;
  std::set<pid_t> groups;
  int found = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    pid_t pid = 0;
    if (!absl::SimpleAtoi(name, &pid) || pid == getpid())
      continue;
    // read(2), not streams: a process may exit while we look.
    int fd = open(absl::StrCat("/proc/", pid, "/environ").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    std::string environ;
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;)
      environ.append(buffer, static_cast<size_t>(n));
    close(fd);
    bool ours = false;
    for (absl::string_view var : absl::StrSplit(environ, '\0'))
      ours |= var == marker;
    if (!ours)
      continue;
    ++found;
    pid_t group = getpgid(pid);
    if (group > 1 && group != getpgrp())
      groups.insert(group);
    kill(pid, SIGKILL);
  }
  for (pid_t group : groups)
    killpg(group, SIGKILL);
  return found;
}

PosixProcessRunner::PosixProcessRunner(EventLoop& loop, Clock& clock, Options options)
    : loop_(loop), clock_(clock), options_(options), read_buffer_(kReadChunk) {}

PosixProcessRunner::~PosixProcessRunner() {
  for (auto& [id, run] : runs_) {
    for (EventLoop::TimerId timer :
         {run->timeout_timer, run->kill_timer, run->poll_timer, run->deliver_timer}) {
      if (timer != 0) {
        loop_.CancelTimer(timer);
      }
    }
    if (run->pid > 0) {
      kill(-run->pid, SIGKILL);
      int status;
      while (waitpid(run->pid, &status, 0) < 0 && errno == EINTR) {
      }
      HA_LOG_INFO("lrmd", "killed %s on shutdown | run=%d pid=%d", run->path, id, run->pid);
    }
    CloseFds(*run);
  }
}

void PosixProcessRunner::CloseFds(RunState& run) {
  for (int* fd : {&run.pidfd, &run.out_fd, &run.err_fd}) {
    if (*fd >= 0) {
      loop_.Unwatch(*fd);
      CloseFd(*fd);
    }
  }
  CloseFd(run.exec_error_fd);
}

ProcessRunner::RunId PosixProcessRunner::Run(AgentCommand cmd,
                                             absl::Duration timeout,
                                             DoneCallback done) {
  RunId id = next_id_++;
  auto owned = std::make_unique<RunState>();
  RunState& run = *owned;
  runs_[id] = std::move(owned);
  run.id = id;
  run.path = cmd.path;
  run.done = std::move(done);
  run.started_mono = clock_.MonotonicNow();
  run.outcome.started = clock_.WallNow();

  if (cmd.synthesized_metadata) {
    run.outcome.exit_code = 0;
    run.out.Append(
        cmd.synthesized_output.data(), cmd.synthesized_output.size(), options_.max_output_bytes);
    CompleteSoon(run, ProcessOutcome::kExited, "");
    return id;
  }
  struct stat st;
  if (stat(cmd.path.c_str(), &st) != 0) {
    CompleteSoon(run, ProcessOutcome::kNotInstalled, Errno(cmd.path, errno));
    return id;
  }
  if (!S_ISREG(st.st_mode)) {
    CompleteSoon(run, ProcessOutcome::kNotInstalled, absl::StrCat(cmd.path, ": not a file"));
    return id;
  }
  if (access(cmd.path.c_str(), X_OK) != 0) {
    CompleteSoon(run, ProcessOutcome::kNotInstalled, absl::StrCat(cmd.path, ": not executable"));
    return id;
  }
  Spawn(run, cmd);
  if (!run.completed && timeout > absl::ZeroDuration()) {
    run.timeout_timer = loop_.AddTimer(timeout, [this, id] {
      auto it = runs_.find(id);
      if (it == runs_.end()) {
        return;
      }
      it->second->timeout_timer = 0;
      HA_LOG_INFO("lrmd",
                  "%s timed out, stopping its process group | run=%d pid=%d",
                  it->second->path,
                  id,
                  it->second->pid);
      StopRun(*it->second, ProcessOutcome::kTimedOut);
    });
  }
  return id;
}

void PosixProcessRunner::Spawn(RunState& run, const AgentCommand& cmd) {
  // Every fd and every byte the child needs is made before fork: other threads (gRPC's) may hold
  // malloc's lock at that moment, so the child makes only async-signal-safe calls.
  int stdin_fd = -1;
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};
  auto fail = [&](std::string error) {
    CloseFd(stdin_fd);
    for (int* p : {out_pipe, err_pipe, exec_pipe}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
    CompleteSoon(run, ProcessOutcome::kSpawnFailed, std::move(error));
  };

  if (cmd.stdin_data.empty()) {
    stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0) {
      return fail(Errno("/dev/null", errno));
    }
  } else {
    if (cmd.stdin_data.size() > options_.max_stdin_bytes) {
      return fail(absl::StrCat(
          "stdin data of ", cmd.stdin_data.size(), " bytes exceeds ", options_.max_stdin_bytes));
    }
    int in_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      return fail(Errno("pipe", errno));
    }
    stdin_fd = in_pipe[0];
    // All of it goes into the pipe now, so nothing has to be written later.
    if (cmd.stdin_data.size() > 65536 &&
        fcntl(in_pipe[1], F_SETPIPE_SZ, static_cast<int>(cmd.stdin_data.size())) < 0) {
      int e = errno;
      close(in_pipe[1]);
      return fail(Errno("F_SETPIPE_SZ", e));
    }
    ssize_t written = write(in_pipe[1], cmd.stdin_data.data(), cmd.stdin_data.size());
    int e = errno;
    close(in_pipe[1]);
    if (written != static_cast<ssize_t>(cmd.stdin_data.size())) {
      return fail(written < 0 ? Errno("write(stdin)", e) : "short write of stdin data");
    }
  }
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(exec_pipe, O_CLOEXEC) != 0) {
    return fail(Errno("pipe", errno));
  }
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(exec_pipe[0], F_SETFL, O_NONBLOCK);
  // If this process runs with 0, 1 or 2 closed, a new fd can be one of them, and the child's
  // dup2s below would overwrite it before using it: move such fds above 2 first.
  for (int* fd : {&stdin_fd, &out_pipe[1], &err_pipe[1]}) {
    if (*fd < 3) {
      int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
      if (moved < 0) {
        return fail(Errno("F_DUPFD_CLOEXEC", errno));
      }
      close(*fd);
      *fd = moved;
    }
  }

  std::vector<char*> argv;
  std::vector<std::string> args = cmd.argv;
  if (args.empty()) {
    args.push_back(cmd.path);
  }
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env = cmd.env;
  if (!options_.owner_tag.empty())
    env.push_back("HA_LRMD_OWNER=" + options_.owner_tag);
  std::vector<char*> envp;
  for (std::string& e : env) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  const char* path = cmd.path.c_str();
  const int child_fds[3] = {stdin_fd, out_pipe[1], err_pipe[1]};
  const int exec_error_w = exec_pipe[1];
  const bool drop = cmd.run_as.has_value();
  const uid_t uid = drop ? cmd.run_as->uid : 0;
  const gid_t gid = drop ? cmd.run_as->gid : 0;
  run.run_as = drop ? cmd.run_as->name : "";

  pid_t pid = fork();
  if (pid < 0) {
    return fail(Errno("fork", errno));
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only, from here to execve. A failure is reported on the
    // exec-error pipe as {stage, errno}.
    auto fail_child = [exec_error_w](int stage) {
      int report[2] = {stage, errno};
      ssize_t ignored = write(exec_error_w, report, sizeof(report));
      (void)ignored;
      _exit(127);
    };
    setpgid(0, 0);
    if (drop) {
      // Groups first, the uid last (it takes the right to change the others). Raw system calls:
      // this is the only thread, and glibc's wrappers would try to signal the parent's threads.
      if (syscall(SYS_setgroups, 0, nullptr) != 0)
        fail_child(kStageSetgroups);
      if (syscall(SYS_setresgid, gid, gid, gid) != 0)
        fail_child(kStageSetgid);
      if (syscall(SYS_setresuid, uid, uid, uid) != 0)
        fail_child(kStageSetuid);
    }
    // If lrmd dies, so does the agent (its own children are found by KillOrphanedAgents). Set
    // after the user switch, which clears it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int target = 0; target < 3; ++target) {
      if (child_fds[target] == target) {
        fcntl(target, F_SETFD, 0);  // dup2 onto itself would leave close-on-exec set
      } else {
        dup2(child_fds[target], target);  // the copy is not close-on-exec
      }
    }
    // Nothing else of ours may leak into the agent (the exec-error pipe closes on exec).
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int signo = 1; signo < NSIG; ++signo) {
      if (signo != SIGKILL && signo != SIGSTOP) {
        sigaction(signo, &dfl, nullptr);  // ignored signals would stay ignored across exec
      }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(path, argv.data(), envp.data());
    fail_child(kStageExec);
  }
  // The parent sets the group too, so that a kill(-pid) right after Run() cannot miss it.
  setpgid(pid, pid);
  CloseFd(stdin_fd);
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  CloseFd(exec_pipe[1]);
  run.pid = pid;
  run.outcome.pid = pid;
  run.out_fd = out_pipe[0];
  run.err_fd = err_pipe[0];
  run.exec_error_fd = exec_pipe[0];
  const RunId id = run.id;
  HA_LOG_DEBUG("lrmd",
               "started %s | run=%d pid=%d user=%s",
               cmd.path,
               id,
               pid,
               run.run_as.empty() ? "lrmd's" : run.run_as);

  for (bool is_stderr : {false, true}) {
    int& fd = is_stderr ? run.err_fd : run.out_fd;
    absl::Status watched =
        loop_.WatchReadable(fd, [this, id, is_stderr] { OnOutput(id, is_stderr); });
    if (!watched.ok()) {
      // Unread output would block the agent once the pipe fills: drop the stream instead.
      HA_LOG_WARN("lrmd", "cannot watch output of %s: %s", cmd.path, watched.ToString());
      CloseFd(fd);
    }
  }
  run.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (run.pidfd >= 0) {
    absl::Status watched = loop_.WatchReadable(run.pidfd, [this, id] { OnLeaderExit(id); });
    if (!watched.ok()) {
      CloseFd(run.pidfd);
    }
  }
  if (run.pidfd < 0) {
    run.poll_timer = loop_.AddTimer(kExitPollPeriod, [this, id] { PollExit(id); });
  }
}

void PosixProcessRunner::CompleteSoon(RunState& run, ProcessOutcome::Kind kind, std::string error) {
  run.completed = true;
  run.outcome.kind = kind;
  run.outcome.error = std::move(error);
  if (kind == ProcessOutcome::kNotInstalled || kind == ProcessOutcome::kSpawnFailed) {
    HA_LOG_INFO("lrmd", "cannot run agent: %s | run=%d", run.outcome.error, run.id);
  }
  const RunId id = run.id;
  run.deliver_timer = loop_.AddTimer(absl::ZeroDuration(), [this, id] { Deliver(id); });
}

void PosixProcessRunner::OnOutput(RunId id, bool is_stderr) {
  auto it = runs_.find(id);
  if (it == runs_.end()) {
    return;
  }
  RunState& run = *it->second;
  int& fd = is_stderr ? run.err_fd : run.out_fd;
  OutputTail& tail = is_stderr ? run.err : run.out;
  if (fd < 0) {
    return;
  }
  // A few chunks per wake-up, so that a chatty agent cannot starve the rest of the loop.
  char* buf = read_buffer_.data();
  for (int i = 0; i < 4; ++i) {
    ssize_t n = read(fd, buf, read_buffer_.size());
    if (n > 0) {
      tail.Append(buf, static_cast<size_t>(n), options_.max_output_bytes);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    // EOF (every writer closed it) or an error: this stream is over.
    loop_.Unwatch(fd);
    CloseFd(fd);
    return;
  }
}

void PosixProcessRunner::OnLeaderExit(RunId id) {
  auto it = runs_.find(id);
  if (it == runs_.end() || it->second->pid <= 0) {
    return;
  }
  RunState& run = *it->second;
  // Look without reaping: while the leader is an unreaped zombie its pid, and so the group id,
  // cannot be reused, so that signalling the group cannot hit a stranger.
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  if (waitid(P_PID, static_cast<id_t>(run.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) {
      return;
    }
    // ECHILD: someone else reaped it (a waitpid(-1) elsewhere, or SIGCHLD set to SIG_IGN).
    HA_LOG_WARN("lrmd", "lost the exit status of %s | run=%d pid=%d", run.path, id, run.pid);
    run.pid = -1;
    Finish(id, -1);
    return;
  }
  if (info.si_pid == 0) {
    return;  // still running
  }
  if (run.stopped_as.has_value() || options_.kill_group_after_exit) {
    kill(-run.pid, SIGKILL);  // whatever is left of the group
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(run.pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  run.pid = -1;
  Finish(id, reaped > 0 ? status : -1);
}

void PosixProcessRunner::PollExit(RunId id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) {
    return;
  }
  it->second->poll_timer = 0;
  OnLeaderExit(id);
  it = runs_.find(id);
  if (it != runs_.end() && it->second->pid > 0) {
    it->second->poll_timer = loop_.AddTimer(kExitPollPeriod, [this, id] { PollExit(id); });
  }
}

void PosixProcessRunner::StopRun(RunState& run, ProcessOutcome::Kind why) {
  if (run.stopped_as.has_value() || run.pid <= 0) {
    return;
  }
  run.stopped_as = why;
  if (run.timeout_timer != 0) {
    loop_.CancelTimer(run.timeout_timer);
    run.timeout_timer = 0;
  }
  run.outcome.signal = SIGTERM;
  kill(-run.pid, SIGTERM);
  const RunId id = run.id;
  run.kill_timer = loop_.AddTimer(options_.kill_grace, [this, id] {
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second->pid <= 0) {
      return;
    }
    it->second->kill_timer = 0;
    HA_LOG_INFO("lrmd",
                "%s still running after SIGTERM, killing its process group | run=%d pid=%d",
                it->second->path,
                id,
                it->second->pid);
    it->second->outcome.signal = SIGKILL;
    kill(-it->second->pid, SIGKILL);
  });
}

absl::Status PosixProcessRunner::Cancel(RunId id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) {
    return absl::NotFoundError(absl::StrCat("no run ", id));
  }
  RunState& run = *it->second;
  if (run.completed) {
    // Not started (not installed, or synthesized): it never will be.
    if (run.outcome.kind == ProcessOutcome::kCancelled) {
      return absl::NotFoundError(absl::StrCat("run ", id, " is already cancelled"));
    }
    run.outcome.kind = ProcessOutcome::kCancelled;
    run.outcome.stdout_tail.clear();
    run.out = OutputTail();
    return absl::OkStatus();
  }
  if (run.stopped_as.has_value()) {
    return absl::NotFoundError(absl::StrCat("run ", id, " is already being stopped"));
  }
  HA_LOG_INFO("lrmd", "cancelling %s | run=%d pid=%d", run.path, id, run.pid);
  StopRun(run, ProcessOutcome::kCancelled);
  return absl::OkStatus();
}

void PosixProcessRunner::Finish(RunId id, int wait_status) {
  RunState& run = *runs_.at(id);
  for (EventLoop::TimerId* timer : {&run.timeout_timer, &run.kill_timer, &run.poll_timer}) {
    if (*timer != 0) {
      loop_.CancelTimer(*timer);
      *timer = 0;
    }
  }
  // What the leader wrote is in the pipes by now. Take what is there and stop reading: anything
  // it left behind in the background may hold the pipes open for as long as it lives.
  for (bool is_stderr : {false, true}) {
    int& fd = is_stderr ? run.err_fd : run.out_fd;
    OutputTail& tail = is_stderr ? run.err : run.out;
    char* buf = read_buffer_.data();
    size_t budget = options_.max_output_bytes + 1024 * 1024;
    while (fd >= 0 && budget > 0) {
      ssize_t n = read(fd, buf, std::min(read_buffer_.size(), budget));
      if (n > 0) {
        tail.Append(buf, static_cast<size_t>(n), options_.max_output_bytes);
        budget -= static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
    if (fd >= 0 && budget == 0) {
      tail.truncated = true;
    }
  }
  int report[2] = {0, 0};  // {stage, errno}
  bool exec_failed = run.exec_error_fd >= 0 && read(run.exec_error_fd, report, sizeof(report)) ==
                                                   static_cast<ssize_t>(sizeof(report));
  CloseFds(run);

  ProcessOutcome& out = run.outcome;
  out.duration = clock_.MonotonicNow() - run.started_mono;
  if (exec_failed) {
    const int stage = report[0];
    const int exec_errno = report[1];
    const std::string as =
        run.run_as.empty() ? std::string() : absl::StrCat(" as user ", run.run_as);
    out.kind = stage == kStageExec &&
                       (exec_errno == ENOENT || exec_errno == EACCES || exec_errno == ENOTDIR)
                   ? ProcessOutcome::kNotInstalled
                   : ProcessOutcome::kSpawnFailed;
    out.error = Errno(absl::StrCat(StageName(stage), " ", run.path, as), exec_errno);
    out.exec_errno = stage == kStageExec ? exec_errno : 0;
    out.signal = 0;
  } else if (run.stopped_as.has_value()) {
    out.kind = *run.stopped_as;
    if (wait_status >= 0 && WIFSIGNALED(wait_status)) {
      out.signal = WTERMSIG(wait_status);
    } else if (wait_status >= 0 && WIFEXITED(wait_status)) {
      out.exit_code = WEXITSTATUS(wait_status);  // it handled SIGTERM and exited
      out.signal = 0;
    }
  } else if (wait_status < 0) {
    out.kind = ProcessOutcome::kSpawnFailed;
    out.error = "the exit status was lost";
  } else if (WIFEXITED(wait_status)) {
    out.kind = ProcessOutcome::kExited;
    out.exit_code = WEXITSTATUS(wait_status);
  } else {
    out.kind = ProcessOutcome::kSignaled;
    out.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  }
  if (out.kind == ProcessOutcome::kExited) {
    HA_LOG_DEBUG("lrmd",
                 "%s exited | run=%d rc=%d ms=%d",
                 run.path,
                 id,
                 out.exit_code,
                 absl::ToInt64Milliseconds(out.duration));
  } else {
    HA_LOG_INFO("lrmd",
                "%s %s | run=%d signal=%s ms=%d error=%s",
                run.path,
                ProcessOutcomeKindName(out.kind),
                id,
                out.signal ? SignalName(out.signal) : "-",
                absl::ToInt64Milliseconds(out.duration),
                out.error);
  }
  run.completed = true;
  Deliver(id);
}

void PosixProcessRunner::Deliver(RunId id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) {
    return;
  }
  std::unique_ptr<RunState> run = std::move(it->second);
  runs_.erase(it);
  ProcessOutcome outcome = std::move(run->outcome);
  if (outcome.duration == absl::ZeroDuration()) {
    outcome.duration = clock_.MonotonicNow() - run->started_mono;
  }
  outcome.stdout_tail = std::move(run->out.data);
  outcome.stderr_tail = std::move(run->err.data);
  outcome.output_truncated = run->out.truncated || run->err.truncated;
  DoneCallback done = std::move(run->done);
  run.reset();
  if (done) {
    done(std::move(outcome));
  }
}

ActionResult MakeActionResult(const ActionRequest& request,
                              const AgentCommand& cmd,
                              const ProcessOutcome& outcome) {
  ActionResult result;
  result.resource_id = request.resource.id;
  result.action = request.action;
  result.interval = request.interval;
  result.stdout_tail = outcome.stdout_tail;
  result.stderr_tail = outcome.stderr_tail;
  result.started = outcome.started;
  result.duration = outcome.duration;
  result.exit_reason = ParseExitReason(outcome.stderr_tail);
  result.raw_exit_code = outcome.exit_code;
  auto reason_if_none = [&result](std::string reason) {
    if (result.exit_reason.empty()) {
      result.exit_reason = std::move(reason);
    }
  };
  switch (outcome.kind) {
    case ProcessOutcome::kExited:
      result.status = ExecStatus::kDone;
      result.exit_code = MapExitCode(cmd.agent_class, request.action, outcome.exit_code);
      if (cmd.agent_class == AgentClass::kStonith && outcome.exit_code != 0 &&
          FenceAgentLacksAction(outcome.stderr_tail)) {
        result.status = ExecStatus::kNotSupported;
        result.exit_code = OcfExitCode::kErrUnimplemented;
        reason_if_none(absl::StrCat("the agent has no ", request.action, " action"));
      }
      break;
    case ProcessOutcome::kSignaled:
      result.status = ExecStatus::kError;
      result.exit_code = OcfExitCode::kErrGeneric;
      reason_if_none(absl::StrCat(
          "agent killed by signal ", outcome.signal, " (SIG", SignalName(outcome.signal), ")"));
      break;
    case ProcessOutcome::kTimedOut:
      result.status = ExecStatus::kTimedOut;
      result.exit_code = OcfExitCode::kErrGeneric;
      reason_if_none(absl::StrCat("timed out after ", absl::FormatDuration(request.timeout)));
      break;
    case ProcessOutcome::kCancelled:
      result.status = ExecStatus::kCancelled;
      result.exit_code = OcfExitCode::kErrGeneric;
      break;
    case ProcessOutcome::kSpawnFailed:
      result.status = ExecStatus::kError;
      result.exit_code = OcfExitCode::kErrGeneric;
      reason_if_none(outcome.error);
      break;
    case ProcessOutcome::kNotInstalled:
      result.status = ExecStatus::kNotInstalled;
      result.exit_code = OcfExitCode::kErrInstalled;
      reason_if_none(outcome.error);
      break;
  }
  if (result.exit_reason.size() > kMaxExitReasonBytes) {
    result.exit_reason.resize(kMaxExitReasonBytes);
  }
  return result;
}

}  // namespace ha::lrmd
