#include "supervisor/supervisor_driver.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/exit_codes.h"
#include "common/logging.h"

namespace ha::supervisor {
namespace {

// The ready pipe's write end is this fd in the child (HA_READY_FD=3).
constexpr int kReadyFdInChild = 3;

std::string TimerName(const TimerKey& key) {
  return absl::StrCat(key.daemon, "/", std::string(TimerKindName(key.kind)));
}

v1::DaemonState ToProto(DaemonState state) {
  switch (state) {
    case DaemonState::kPending:
      return v1::PENDING;
    case DaemonState::kStarting:
      return v1::STARTING;
    case DaemonState::kRunning:
      return v1::RUNNING;
    case DaemonState::kBackoff:
      return v1::BACKOFF;
    case DaemonState::kStopping:
      return v1::STOPPING;
    case DaemonState::kStopped:
      return v1::STOPPED;
  }
  return v1::DAEMON_STATE_UNSPECIFIED;
}

v1::StackState ToProto(StackState state) {
  switch (state) {
    case StackState::kStarting:
      return v1::STACK_STARTING;
    case StackState::kRunning:
      return v1::STACK_RUNNING;
    case StackState::kStopping:
      return v1::STACK_STOPPING;
    case StackState::kFailed:
      return v1::STACK_FAILED;
    case StackState::kStopped:
      return v1::STACK_STOPPED;
  }
  return v1::STACK_STATE_UNSPECIFIED;
}

RespawnPolicy PolicyFromConfig(const config::SupervisorConfig& c) {
  RespawnPolicy p;
  p.limit = c.respawn_limit;
  p.window = absl::Milliseconds(c.respawn_window);
  p.backoff_initial = absl::Milliseconds(c.respawn_backoff_initial);
  p.backoff_max = absl::Milliseconds(c.respawn_backoff_max);
  p.start_timeout = absl::Milliseconds(c.start_timeout);
  p.stop_timeout = absl::Milliseconds(c.stop_timeout);
  return p;
}

}  // namespace

const std::vector<std::string>& StackDaemons() {
  // membershipd first: everything talks to peers through it. Then the CIB, which the others
  // read; fencing and the executor, which the controller drives; the policy engine; and last
  // the controller, which uses all of them.
  static const std::vector<std::string> kDaemons = {
      "membershipd", "cibd", "stonithd", "lrmd", "pengine", "crmd"};
  return kDaemons;
}

SupervisorDriver::SupervisorDriver(DaemonRuntime& rt, DriverOptions options)
    : rt_(rt),
      options_(std::move(options)),
      core_(options_.daemons, PolicyFromConfig(rt.config().supervisor)) {
  PublishSnapshot();
}

SupervisorDriver::~SupervisorDriver() {
  for (auto& [name, fd] : ready_fds_) {
    rt_.loop().Unwatch(fd);
    close(fd);
  }
}

absl::Status SupervisorDriver::Start() {
  if (absl::Status s = rt_.loop().OnSignal(SIGCHLD, [this] { ReapChildren(); }); !s.ok()) {
    return s;
  }
  rt_.SetStopHandler([this] { Feed(StopStack{"SIGTERM"}); });
  rt_.loop().Post([this] { Feed(StartStack{}); });
  return absl::OkStatus();
}

void SupervisorDriver::Feed(Event event) {
  pump_.Feed(std::move(event));
}

void SupervisorDriver::Apply(const Effect& effect) {
  if (const auto* spawn = std::get_if<SpawnDaemon>(&effect)) {
    Spawn(spawn->daemon);
  } else if (const auto* sig = std::get_if<SignalDaemon>(&effect)) {
    if (kill(sig->pid, sig->signal) != 0 && errno != ESRCH) {
      HA_LOG_WARN("main",
                  "cannot signal %s: %s | pid=%d signal=%d",
                  sig->daemon,
                  strerror(errno),
                  sig->pid,
                  sig->signal);
    }
  } else if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
    std::string name = TimerName(arm->key);
    if (auto it = timers_.find(name); it != timers_.end()) {
      rt_.loop().CancelTimer(it->second);
    }
    TimerKey key = arm->key;
    timers_[name] = rt_.loop().AddTimer(arm->after, [this, key, name] {
      timers_.erase(name);
      Feed(TimerFired{key});
    });
  } else if (const auto* cancel = std::get_if<CancelTimer>(&effect)) {
    std::string name = TimerName(cancel->key);
    if (auto it = timers_.find(name); it != timers_.end()) {
      rt_.loop().CancelTimer(it->second);
      timers_.erase(it);
    }
  } else if (const auto* msg = std::get_if<LogMessage>(&effect)) {
    HA_LOG("main", msg->priority, "%s", msg->text);
  } else if (const auto* done = std::get_if<StackFinished>(&effect)) {
    HA_LOG_NOTICE("main",
                  "stack %s; supervisor exiting | exit_code=%d",
                  std::string(StackStateName(done->final_state)),
                  done->exit_code);
    rt_.SetExitCode(done->exit_code);
    rt_.RequestStop();
  }
}

void SupervisorDriver::Spawn(const std::string& daemon) {
  std::string path = absl::StrCat(options_.daemon_dir, "/", daemon);
  std::string nodeid = absl::StrCat(rt_.local_node().nodeid);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    Feed(SpawnFailed{daemon, absl::StrCat("pipe: ", strerror(errno))});
    return;
  }
  // Everything the child needs is prepared before fork: gRPC's threads may hold malloc's locks
  // at that moment, so the child makes only async-signal-safe calls.
  std::vector<std::string> args = {path, "-c", options_.config_path, "-n", nodeid};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  // The child's environment: ours, with HA_READY_FD naming the ready pipe.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, "HA_READY_FD=", 12) != 0) {
      env_strings.emplace_back(*e);
    }
  }
  env_strings.push_back(absl::StrCat("HA_READY_FD=", kReadyFdInChild));
  std::vector<char*> envp;
  for (auto& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    Feed(SpawnFailed{daemon, absl::StrCat("fork: ", strerror(errno))});
    return;
  }
  if (pid == 0) {
    dup2(pipe_fds[1], kReadyFdInChild);  // dup2 clears close-on-exec on the copy
    syscall(SYS_close_range, kReadyFdInChild + 1, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(path.c_str(), argv.data(), envp.data());
    _exit(ToInt(ExitCode::kFatal));  // not installed: respawning cannot help
  }
  close(pipe_fds[1]);
  int read_fd = pipe_fds[0];
  fcntl(read_fd, F_SETFL, O_NONBLOCK);
  if (auto it = ready_fds_.find(daemon); it != ready_fds_.end()) {
    rt_.loop().Unwatch(it->second);
    close(it->second);
  }
  ready_fds_[daemon] = read_fd;
  absl::Status watched =
      rt_.loop().WatchReadable(read_fd, [this, daemon, read_fd] { OnReadyPipe(daemon, read_fd); });
  if (!watched.ok()) {
    HA_LOG_WARN("main", "cannot watch %s's ready pipe: %s", daemon, watched.ToString());
  }
  pids_[pid] = daemon;
  HA_LOG_INFO("main", "started %s | pid=%d path=%s", daemon, pid, path);
  Feed(DaemonSpawned{daemon, pid});
}

void SupervisorDriver::OnReadyPipe(const std::string& daemon, int fd) {
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf));
  if (n > 0) {
    if (std::string(buf, n).find("READY") != std::string::npos) {
      Feed(DaemonReady{daemon});
    }
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    return;
  }
  // EOF: the daemon closed its end (after READY, or by exiting).
  rt_.loop().Unwatch(fd);
  close(fd);
  if (auto it = ready_fds_.find(daemon); it != ready_fds_.end() && it->second == fd) {
    ready_fds_.erase(it);
  }
}

void SupervisorDriver::ReapChildren() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    auto it = pids_.find(pid);
    if (it == pids_.end()) {
      continue;
    }
    std::string daemon = it->second;
    pids_.erase(it);
    ExitInfo exit;
    exit.signaled = WIFSIGNALED(status);
    exit.code = exit.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
    HA_LOG_NOTICE("main", "%s exited | pid=%d how=%s", daemon, pid, exit.ToString());
    Feed(DaemonExited{daemon, pid, exit});
  }
}

void SupervisorDriver::PublishSnapshot() {
  v1::StatusResponse snapshot;
  snapshot.set_node_name(rt_.local_node().name);
  snapshot.set_node_id(rt_.local_node().nodeid);
  snapshot.set_cluster_name(rt_.config().totem.cluster_name);
  snapshot.set_stack(ToProto(core_.stack_state()));
  absl::Time now = rt_.clock().MonotonicNow();
  for (const DaemonView& view : core_.Snapshot()) {
    v1::DaemonStatus* d = snapshot.add_daemons();
    d->set_name(view.name);
    d->set_state(ToProto(view.state));
    d->set_pid(view.pid);
    d->set_restarts(view.restarts);
    d->set_last_exit(view.last_exit);
    d->set_since_ms(
        view.since == absl::InfinitePast() ? 0 : absl::ToInt64Milliseconds(now - view.since));
  }
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
}

grpc::Status SupervisorDriver::Status(grpc::ServerContext*,
                                      const v1::StatusRequest*,
                                      v1::StatusResponse* response) {
  absl::MutexLock lock(&mu_);
  *response = snapshot_;
  return grpc::Status::OK;
}

grpc::Status SupervisorDriver::Shutdown(grpc::ServerContext*,
                                        const v1::ShutdownRequest*,
                                        v1::ShutdownResponse*) {
  rt_.loop().Post([this] { Feed(StopStack{"Shutdown request"}); });
  return grpc::Status::OK;
}

}  // namespace ha::supervisor
