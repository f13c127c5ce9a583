// The seam between lrmd and the operating system's processes: run an AgentCommand with a timeout
// and learn, on the event loop, how it went. PosixProcessRunner is the real one; tests and the
// simulator use FakeProcessRunner (fake_process_runner.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "lrmd/action.h"
#include "lrmd/agent_command.h"

namespace ha::lrmd {

struct ProcessOutcome {
  enum Kind {
    kExited,        // exited by itself; exit_code holds its status
    kSignaled,      // killed by a signal we did not send (a crash); `signal` holds it
    kTimedOut,      // killed by us after its timeout
    kCancelled,     // killed by us on Cancel()
    kSpawnFailed,   // could not be started (pipe, fork or exec failed); see `error`
    kNotInstalled,  // the executable does not exist or is not executable; see `error`
  };
  Kind kind = kSpawnFailed;
  int exit_code = -1;       // kExited
  int signal = 0;           // kSignaled; for kTimedOut/kCancelled the signal that ended it, if any
  std::string stdout_tail;  // the last max_output_bytes of each stream
  std::string stderr_tail;
  bool output_truncated = false;              // bytes were dropped from the front of either stream
  absl::Time started = absl::InfinitePast();  // wall clock
  absl::Duration duration = absl::ZeroDuration();
  std::string error;   // what went wrong, for kSpawnFailed and kNotInstalled
  int exec_errno = 0;  // execve's errno when execve itself failed (kNotInstalled, kSpawnFailed)
  pid_t pid = -1;      // the process (and process group) id, when one was started
};

const char* ProcessOutcomeKindName(ProcessOutcome::Kind kind);

class ProcessRunner {
 public:
  using RunId = int64_t;
  using DoneCallback = absl::AnyInvocable<void(ProcessOutcome)>;

  virtual ~ProcessRunner() = default;

  // Starts `cmd`, to be stopped after `timeout` (zero or less: no timeout). `done` is called
  // exactly once, on the loop thread, and never from within Run() itself, unless the runner is
  // destroyed first (then never). Returns an id for Cancel(), always > 0. Loop thread only.
  virtual RunId Run(AgentCommand cmd, absl::Duration timeout, DoneCallback done) = 0;

  // Stops a run as its timeout would (its outcome is then kCancelled). NotFound when `id` is
  // unknown or has already completed. Loop thread only.
  virtual absl::Status Cancel(RunId id) = 0;
};

// Runs commands as real processes with fork/execve. A command with `run_as` runs as that user:
// the child drops its supplementary groups and sets its gid and uid before execve (a failure there
// is kSpawnFailed; execve refused as that user is kNotInstalled, as for root). Each run is its own
// process group (the child calls setpgid(0, 0)), so that a timeout or a cancel reaches everything
// the agent started:
// SIGTERM to the group, SIGKILL to the group `kill_grace` later. stdout and stderr are read on the
// loop, keeping the last `max_output_bytes` of each; the exit is seen through a pidfd watched on
// the loop (no SIGCHLD handler), and the process is always reaped.
//
// When a run's leader exits after a timeout or cancel, whatever is left of its group is killed at
// once. After a normal exit the group is left alone unless `kill_group_after_exit` is set: agents
// such as ocf:heartbeat:anything start their daemon in the background in the agent's own group,
// and that daemon is the resource.
// Kills the process groups of agents that a previous lrmd with the same owner tag left behind
// (it was killed, so it could not clean up). Returns how many processes were found.
int KillOrphanedAgents(const std::string& owner_tag);

class PosixProcessRunner final : public ProcessRunner {
 public:
  struct Options {
    size_t max_output_bytes = 64 * 1024;  // per stream
    absl::Duration kill_grace = absl::Seconds(5);
    bool kill_group_after_exit = false;
    size_t max_stdin_bytes = 1024 * 1024;  // larger stdin_data is refused (kSpawnFailed)
    // Put in every agent's environment as HA_LRMD_OWNER=<tag>, so that a restarted lrmd finds
    // (KillOrphanedAgents) what a dead one left running. Empty: not set.
    std::string owner_tag;
  };

  PosixProcessRunner(EventLoop& loop, Clock& clock) : PosixProcessRunner(loop, clock, Options()) {}
  PosixProcessRunner(EventLoop& loop, Clock& clock, Options options);
  // Kills (SIGKILL to the group) and reaps every run still going; their callbacks are not called.
  ~PosixProcessRunner() override;

  PosixProcessRunner(const PosixProcessRunner&) = delete;
  PosixProcessRunner& operator=(const PosixProcessRunner&) = delete;

  RunId Run(AgentCommand cmd, absl::Duration timeout, DoneCallback done) override;
  absl::Status Cancel(RunId id) override;

  // How many runs have not completed yet.
  size_t running() const { return runs_.size(); }

 private:
  struct RunState;

  void Spawn(RunState& run, const AgentCommand& cmd);
  void CompleteSoon(RunState& run, ProcessOutcome::Kind kind, std::string error);
  void OnOutput(RunId id, bool is_stderr);
  void OnLeaderExit(RunId id);
  void PollExit(RunId id);
  void StopRun(RunState& run, ProcessOutcome::Kind why);
  void Finish(RunId id, int wait_status);
  void Deliver(RunId id);
  void CloseFds(RunState& run);

  EventLoop& loop_;
  Clock& clock_;
  Options options_;
  RunId next_id_ = 1;
  std::map<RunId, std::unique_ptr<RunState>> runs_;
  std::vector<char> read_buffer_;
};

// The ActionResult for a request whose command ran with `outcome`: the execution status, the
// mapped OCF code (with the raw code kept), the exit reason and the output.
ActionResult MakeActionResult(const ActionRequest& request,
                              const AgentCommand& cmd,
                              const ProcessOutcome& outcome);

}  // namespace ha::lrmd
