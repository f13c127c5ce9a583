// A ProcessRunner for tests and the simulator: it runs nothing, records every command, and
// completes a run only when told to (CompleteForTest), so that a test decides what each agent
// "did" and when.
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lrmd/process_runner.h"

namespace ha::lrmd {

class FakeProcessRunner final : public ProcessRunner {
 public:
  struct Call {
    RunId id = 0;
    AgentCommand cmd;
    absl::Duration timeout = absl::ZeroDuration();
    bool cancel_requested = false;
    bool completed = false;
  };

  RunId Run(AgentCommand cmd, absl::Duration timeout, DoneCallback done) override {
    RunId id = next_id_++;
    calls_.push_back(Call{id, std::move(cmd), timeout, false, false});
    pending_[id] = std::move(done);
    return id;
  }

  // Records the request; the run stays pending until CompleteForTest (typically with kCancelled).
  absl::Status Cancel(RunId id) override {
    if (pending_.find(id) == pending_.end()) {
      return absl::NotFoundError(absl::StrCat("no run ", id));
    }
    MutableCall(id)->cancel_requested = true;
    return absl::OkStatus();
  }

  // Calls the run's callback with `outcome` (now, from this call). False when `id` is not pending.
  bool CompleteForTest(RunId id, ProcessOutcome outcome) {
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      return false;
    }
    DoneCallback done = std::move(it->second);
    pending_.erase(it);
    MutableCall(id)->completed = true;
    done(std::move(outcome));
    return true;
  }

  // Shorthands for CompleteForTest.
  bool ExitForTest(RunId id,
                   int exit_code,
                   std::string stdout_text = "",
                   std::string stderr_text = "") {
    ProcessOutcome outcome;
    outcome.kind = ProcessOutcome::kExited;
    outcome.exit_code = exit_code;
    outcome.stdout_tail = std::move(stdout_text);
    outcome.stderr_tail = std::move(stderr_text);
    return CompleteForTest(id, std::move(outcome));
  }
  bool CompleteCancelledForTest(RunId id) {
    ProcessOutcome outcome;
    outcome.kind = ProcessOutcome::kCancelled;
    return CompleteForTest(id, std::move(outcome));
  }

  // Every Run() so far, in order.
  const std::vector<Call>& calls() const { return calls_; }
  // The runs not completed yet, oldest first.
  std::vector<RunId> pending() const {
    std::vector<RunId> ids;
    for (const auto& [id, done] : pending_) {
      ids.push_back(id);
    }
    return ids;
  }
  bool IsPending(RunId id) const { return pending_.find(id) != pending_.end(); }
  const Call* LastCall() const { return calls_.empty() ? nullptr : &calls_.back(); }
  const Call* FindCall(RunId id) const {
    for (const Call& call : calls_) {
      if (call.id == id) {
        return &call;
      }
    }
    return nullptr;
  }

 private:
  Call* MutableCall(RunId id) { return const_cast<Call*>(FindCall(id)); }

  RunId next_id_ = 1;
  std::vector<Call> calls_;
  std::map<RunId, DoneCallback> pending_;
};

}  // namespace ha::lrmd
