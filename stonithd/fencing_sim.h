// Test support: FencingCore instances on one simulated clock. Timers and agent runs become
// scheduled callbacks ordered by (time, sequence number), so a run replays exactly; what each
// agent run "does" (how long it takes, its exit, a side effect such as powering a node off) is
// decided by the test. A dead node handles nothing more.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "stonithd/fencing_core.h"

namespace ha::stonithd::sim {

class World {
 public:
  explicit World(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50)) : now_(start) {}
  absl::Time now() const { return now_; }
  void At(absl::Time at, std::function<void()> fn) {
    queue_.emplace(std::make_pair(std::max(at, now_), next_seq_++), std::move(fn));
  }
  // Runs everything due up to `until` (inclusive), moving the clock.
  void RunUntil(absl::Time until) {
    while (!queue_.empty() && queue_.begin()->first.first <= until) {
      auto it = queue_.begin();
      now_ = it->first.first;
      std::function<void()> fn = std::move(it->second);
      queue_.erase(it);
      fn();
    }
    now_ = std::max(now_, until);
  }
  void RunFor(absl::Duration d) { RunUntil(now_ + d); }
  bool idle() const { return queue_.empty(); }

 private:
  absl::Time now_;
  uint64_t next_seq_ = 0;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> queue_;
};

// How one agent run goes.
struct AgentReply {
  absl::Duration duration = absl::Seconds(1);  // until it exits (InfiniteDuration: hangs)
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_reason;  // the reason of a failure
  // Called `side_effect_after` into the run if the node is still alive then (e.g. the power
  // switch acting on the target).
  std::function<void()> side_effect;
  absl::Duration side_effect_after = absl::ZeroDuration();
};

class Node {
 public:
  using Agent = std::function<AgentReply(const RunAgent&)>;

  Node(World& world, FencingCoreOptions options, Agent agent)
      : world_(world),
        name_(options.local_node),
        core_(std::move(options)),
        agent_(std::move(agent)) {}

  FencingCore& core() { return core_; }
  const std::string& name() const { return name_; }
  bool alive() const { return alive_; }
  void Kill() { alive_ = false; }

  void Feed(Event event) {
    if (!alive_) {
      return;
    }
    Apply(core_.Handle(std::move(event), Now{world_.now(), world_.now()}));
  }

  const std::vector<RunAgent>& runs() const { return runs_; }
  std::vector<absl::Time> run_times;  // when each run started
  const std::vector<FenceRecord>& changes() const { return changes_; }
  const std::vector<LogLine>& logs() const { return logs_; }
  // The last published state of operation `id`.
  const FenceRecord* Last(const std::string& id) const {
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
      if (it->id == id) {
        return &*it;
      }
    }
    return nullptr;
  }

 private:
  void Apply(Effects effects) {
    for (Effect& effect : effects) {
      if (auto* arm = std::get_if<ArmTimer>(&effect)) {
        uint64_t gen = ++timer_gen_[arm->key];
        TimerKey key = arm->key;
        world_.At(world_.now() + arm->after, [this, key, gen] {
          if (timer_gen_[key] == gen) {
            Feed(TimerFired{key});
          }
        });
      } else if (auto* cancel = std::get_if<CancelTimer>(&effect)) {
        ++timer_gen_[cancel->key];
      } else if (auto* run = std::get_if<RunAgent>(&effect)) {
        StartRun(*run);
      } else if (auto* cancel_run = std::get_if<CancelRun>(&effect)) {
        int64_t id = cancel_run->run_id;
        world_.At(world_.now(),
                  [this, id] { Finish(id, lrmd::ExecStatus::kCancelled, -1, "", ""); });
      } else if (auto* changed = std::get_if<OperationChanged>(&effect)) {
        changes_.push_back(changed->record);
      } else if (auto* log = std::get_if<LogLine>(&effect)) {
        logs_.push_back(*log);
      }
    }
  }

  void StartRun(const RunAgent& run) {
    runs_.push_back(run);
    run_times.push_back(world_.now());
    outstanding_.insert(run.run_id);
    AgentReply reply = agent_(run);
    int64_t id = run.run_id;
    if (reply.side_effect) {
      world_.At(world_.now() + reply.side_effect_after, [this, fn = reply.side_effect] {
        if (alive_) {
          fn();
        }
      });
    }
    if (reply.duration > run.timeout) {
      world_.At(world_.now() + run.timeout,
                [this, id] { Finish(id, lrmd::ExecStatus::kTimedOut, -1, "", "timed out"); });
      return;
    }
    world_.At(world_.now() + reply.duration, [this, id, reply] {
      Finish(id, lrmd::ExecStatus::kDone, reply.exit_code, reply.stdout_text, reply.stderr_reason);
    });
  }

  void Finish(int64_t id,
              lrmd::ExecStatus status,
              int exit_code,
              const std::string& out,
              const std::string& reason) {
    if (outstanding_.erase(id) == 0) {
      return;
    }
    FenceResult result;
    result.status = status;
    result.exit_code = exit_code;
    result.stdout_tail = out;
    result.reason = reason;
    for (const RunAgent& run : runs_) {
      if (run.run_id == id) {
        result.action = run.action;
      }
    }
    if (result.reason.empty() && !result.ok()) {
      result.reason = "agent failed";
    }
    Feed(AgentFinished{id, result});
  }

  World& world_;
  std::string name_;
  FencingCore core_;
  Agent agent_;
  bool alive_ = true;
  std::map<TimerKey, uint64_t> timer_gen_;
  std::set<int64_t> outstanding_;
  std::vector<RunAgent> runs_;
  std::vector<FenceRecord> changes_;
  std::vector<LogLine> logs_;
};

}  // namespace ha::stonithd::sim
