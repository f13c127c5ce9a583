#include "lrmd/executor_core.h"

#include <syslog.h>

#include <tuple>
#include <utility>

#include "absl/strings/str_format.h"

namespace ha::lrmd {
namespace {

bool IsMonitor(const std::string& action) {
  return action == "monitor";
}

// "ok", "timed out", "done: not running".
std::string Outcome(const ActionResult& r) {
  if (r.status != ExecStatus::kDone)
    return std::string(ExecStatusName(r.status));
  return std::string(OcfExitCodeName(r.exit_code));
}

}  // namespace

std::string_view OcfExitCodeName(OcfExitCode code) {
  switch (code) {
    case OcfExitCode::kOk:
      return "ok";
    case OcfExitCode::kErrGeneric:
      return "error";
    case OcfExitCode::kErrArgs:
      return "invalid parameter";
    case OcfExitCode::kErrUnimplemented:
      return "unimplemented feature";
    case OcfExitCode::kErrPerm:
      return "insufficient privileges";
    case OcfExitCode::kErrInstalled:
      return "not installed";
    case OcfExitCode::kErrConfigured:
      return "not configured";
    case OcfExitCode::kNotRunning:
      return "not running";
    case OcfExitCode::kRunningPromoted:
      return "promoted";
    case OcfExitCode::kFailedPromoted:
      return "promoted (failed)";
  }
  return "unknown";
}

std::string_view ExecStatusName(ExecStatus status) {
  switch (status) {
    case ExecStatus::kPending:
      return "pending";
    case ExecStatus::kDone:
      return "done";
    case ExecStatus::kCancelled:
      return "cancelled";
    case ExecStatus::kTimedOut:
      return "timed out";
    case ExecStatus::kNotSupported:
      return "not supported";
    case ExecStatus::kError:
      return "error";
    case ExecStatus::kNotInstalled:
      return "not installed";
    case ExecStatus::kNotConnected:
      return "not connected";
  }
  return "unknown";
}

std::string_view OpStateName(OpState state) {
  switch (state) {
    case OpState::kQueued:
      return "queued";
    case OpState::kRunning:
      return "running";
    case OpState::kScheduled:
      return "scheduled";
    case OpState::kCancelling:
      return "cancelling";
  }
  return "unknown";
}

bool IsFailure(const ActionResult& result) {
  switch (result.status) {
    case ExecStatus::kPending:
    case ExecStatus::kCancelled:
      return false;
    case ExecStatus::kTimedOut:
    case ExecStatus::kNotSupported:
    case ExecStatus::kError:
    case ExecStatus::kNotInstalled:
    case ExecStatus::kNotConnected:
      return true;
    case ExecStatus::kDone:
      break;
  }
  if (result.exit_code == OcfExitCode::kOk)
    return false;
  return !(IsMonitor(result.action) && (result.exit_code == OcfExitCode::kNotRunning ||
                                        result.exit_code == OcfExitCode::kRunningPromoted));
}

bool ActionKey::operator<(const ActionKey& other) const {
  return std::tie(action, interval) < std::tie(other.action, other.interval);
}

ExecutorCore::ExecutorCore(ExecutorOptions options)
    : max_parallel_(options.max_parallel < 1 ? 1 : options.max_parallel) {}

std::vector<Effect> ExecutorCore::Handle(const Event& event, absl::Time now) {
  effects_.clear();
  std::visit([&](const auto& e) { On(e, now); }, event);
  return std::exchange(effects_, {});
}

std::vector<std::string> ExecutorCore::Resources() const {
  std::vector<std::string> ids;
  for (const auto& [id, r] : resources_) {
    if (r.registered)
      ids.push_back(id);
  }
  return ids;
}

std::optional<ResourceHistory> ExecutorCore::History(const std::string& resource_id) const {
  auto it = resources_.find(resource_id);
  if (it == resources_.end() || !it->second.registered)
    return std::nullopt;
  return ResourceHistory{
      .resource_id = resource_id, .last = it->second.last, .last_failure = it->second.last_failure};
}

std::vector<OpView> ExecutorCore::Operations() const {
  std::vector<OpView> views;
  views.reserve(ops_.size());
  for (const auto& [call_id, op] : ops_) {
    views.push_back(OpView{.call_id = call_id,
                           .resource_id = op.request.resource.id,
                           .action = op.request.action,
                           .interval = op.request.interval,
                           .state = op.state,
                           .run_id = op.run_id,
                           .since = op.since});
  }
  return views;
}

// ---- Events ----

void ExecutorCore::On(const Exec& e, absl::Time now) {
  const int64_t call_id = next_call_id_++;
  Emit(CallAssigned{.call_id = call_id});
  const ActionRequest& request = e.request;
  std::string invalid;
  if (request.resource.id.empty()) {
    invalid = "no resource id";
  } else if (request.action.empty()) {
    invalid = "no action";
  } else if (request.interval < absl::ZeroDuration()) {
    invalid = "negative interval";
  }
  if (!invalid.empty()) {
    ActionResult result;
    result.call_id = call_id;
    result.resource_id = request.resource.id;
    result.action = request.action;
    result.interval = request.interval;
    result.status = ExecStatus::kError;
    result.exit_reason = "invalid request: " + invalid;
    Log(LOG_WARNING, absl::StrFormat("rejecting call %d: %s", call_id, result.exit_reason));
    Emit(Report{.result = std::move(result)});
    return;
  }

  const std::string& id = request.resource.id;
  Resource& resource = resources_[id];  // registers it (again)
  if (!resource.registered) {
    resource.registered = true;
    Log(LOG_INFO, absl::StrFormat("resource %s registered again", id));
  }

  // The operations this one cancels: a recurring one with the same key (replaced), or, for a stop,
  // every recurring one of the resource. Collected first: cancelling may erase them.
  std::vector<int64_t> replaced;
  std::vector<int64_t> stopped;
  for (const auto& [other_id, op] : ops_) {
    if (op.request.resource.id != id || op.state == OpState::kCancelling ||
        op.request.interval <= absl::ZeroDuration())
      continue;
    if (request.interval > absl::ZeroDuration() && op.request.action == request.action &&
        op.request.interval == request.interval) {
      replaced.push_back(other_id);
    } else if (request.action == "stop") {
      stopped.push_back(other_id);
    }
  }
  for (int64_t other_id : replaced)
    CancelOp(ops_.at(other_id), absl::StrFormat("replaced by call %d", call_id), now);
  for (int64_t other_id : stopped)
    CancelOp(ops_.at(other_id), absl::StrFormat("stopping %s (call %d)", id, call_id), now);

  Op& op = ops_[call_id];
  op.call_id = call_id;
  op.request = request;
  Log(LOG_DEBUG, absl::StrFormat("queueing %s", Describe(op)));
  Enqueue(op, now);
  StartReady(now);
}

void ExecutorCore::On(const Cancel& e, absl::Time now) {
  const std::string what = absl::StrFormat(
      "%s %s interval %s", e.resource_id, e.action, absl::FormatDuration(e.interval));
  auto it = resources_.find(e.resource_id);
  if (it == resources_.end() || !it->second.registered) {
    Log(LOG_WARNING, absl::StrFormat("ignoring Cancel of %s: unknown resource", what));
    return;
  }
  std::vector<int64_t> matches;
  bool cancelling = false;
  for (const auto& [call_id, op] : ops_) {
    if (op.request.resource.id != e.resource_id || op.request.action != e.action ||
        op.request.interval != e.interval)
      continue;
    if (op.state == OpState::kCancelling) {
      cancelling = true;
    } else {
      matches.push_back(call_id);
    }
  }
  if (matches.empty()) {
    Log(LOG_WARNING,
        absl::StrFormat("ignoring Cancel of %s: %s",
                        what,
                        cancelling ? "already being cancelled" : "no such operation"));
    return;
  }
  for (int64_t call_id : matches)
    CancelOp(ops_.at(call_id), "cancelled on request", now);
}

void ExecutorCore::On(const AgentFinished& e, absl::Time now) {
  auto run = runs_.find(e.run_id);
  if (run == runs_.end()) {
    Log(LOG_WARNING, absl::StrFormat("ignoring AgentFinished for unknown run %d", e.run_id));
    return;
  }
  Op& op = ops_.at(run->second);
  runs_.erase(run);
  Resource& resource = resources_.at(op.request.resource.id);
  resource.running = 0;
  op.run_id = 0;

  ActionResult result = BaseResult(op);
  result.status = e.status;
  result.exit_code = e.exit_code;
  result.raw_exit_code = e.raw_exit_code;
  result.exit_reason = e.exit_reason;
  result.stdout_tail = e.stdout_tail;
  result.stderr_tail = e.stderr_tail;
  result.started = e.started;
  result.duration = e.duration;
  const bool recurring = op.request.interval > absl::ZeroDuration();

  switch (op.state) {
    case OpState::kCancelling:
      // Whatever the agent managed before it was killed, the client asked for a cancellation.
      result.status = ExecStatus::kCancelled;
      result.changed = recurring;
      Log(LOG_INFO, absl::StrFormat("%s cancelled", Describe(op)));
      Emit(Report{.result = std::move(result)});
      Erase(op);  // may erase `resource`
      break;
    case OpState::kRunning:
      if (result.status == ExecStatus::kCancelled) {
        // Cancelled by the runner (say, the driver is shutting down): the operation ends here,
        // recurring or not, as if a client had cancelled it.
        if (recurring)
          resource.last.erase(ActionKey{.action = result.action, .interval = result.interval});
        result.changed = recurring;
        Log(LOG_NOTICE, absl::StrFormat("%s cancelled by the runner", Describe(op)));
        Emit(Report{.result = std::move(result)});
        Erase(op);
        break;
      }
      if (!recurring) {
        Record(resource, result);
        Log(IsFailure(result) ? LOG_WARNING : LOG_INFO,
            absl::StrFormat("%s: %s", Describe(op), Outcome(result)));
        Emit(Report{.result = std::move(result)});
        Erase(op);
        break;
      }
      result.changed = !op.ran || result.status != op.last_status ||
                       (result.status == ExecStatus::kDone && result.exit_code != op.last_exit);
      op.ran = true;
      op.last_status = result.status;
      op.last_exit = result.exit_code;
      Record(resource, result);
      if (result.changed) {
        Log(IsFailure(result) ? LOG_WARNING : LOG_INFO,
            absl::StrFormat("%s: %s", Describe(op), Outcome(result)));
        Emit(Report{.result = std::move(result)});
      }
      op.state = OpState::kScheduled;
      op.since = now;
      Emit(ArmTimer{.key = TimerKey{.call_id = op.call_id}, .after = op.request.interval});
      break;
    case OpState::kQueued:
    case OpState::kScheduled:
      // Unreachable: only running operations have a live run.
      Log(LOG_ERR, absl::StrFormat("%s finished while %s", Describe(op), OpStateName(op.state)));
      break;
  }
  StartReady(now);
}

void ExecutorCore::On(const TimerFired& e, absl::Time now) {
  auto it = ops_.find(e.key.call_id);
  if (it == ops_.end() || it->second.state != OpState::kScheduled) {
    Log(LOG_WARNING, absl::StrFormat("ignoring a stale timer for call %d", e.key.call_id));
    return;
  }
  Enqueue(it->second, now);
  StartReady(now);
}

void ExecutorCore::On(const UnregisterResource& e, absl::Time now) {
  auto it = resources_.find(e.resource_id);
  if (it == resources_.end() || !it->second.registered) {
    Log(LOG_WARNING,
        absl::StrFormat("ignoring UnregisterResource of %s: unknown resource", e.resource_id));
    return;
  }
  std::vector<int64_t> live;
  for (const auto& [call_id, op] : ops_) {
    if (op.request.resource.id == e.resource_id && op.state != OpState::kCancelling)
      live.push_back(call_id);
  }
  for (int64_t call_id : live)
    CancelOp(ops_.at(call_id), "the resource is unregistered", now);
  Resource& resource = it->second;
  resource.registered = false;
  resource.last.clear();
  resource.last_failure.reset();
  Log(LOG_INFO, absl::StrFormat("resource %s unregistered", e.resource_id));
  if (resource.running == 0 && resource.queue.empty())
    resources_.erase(it);
}

// ---- Helpers ----

void ExecutorCore::CancelOp(Op& op, std::string_view why, absl::Time now) {
  Resource& resource = resources_.at(op.request.resource.id);
  const bool recurring = op.request.interval > absl::ZeroDuration();
  if (recurring)
    resource.last.erase(ActionKey{.action = op.request.action, .interval = op.request.interval});
  switch (op.state) {
    case OpState::kRunning:
      Log(LOG_INFO, absl::StrFormat("cancelling %s (%s): killing its run", Describe(op), why));
      op.state = OpState::kCancelling;
      op.since = now;
      Emit(CancelRun{.run_id = op.run_id});
      return;  // reported when it finishes
    case OpState::kCancelling:
      return;
    case OpState::kQueued:
      std::erase(resource.queue, op.call_id);
      break;
    case OpState::kScheduled:
      Emit(CancelTimer{.key = TimerKey{.call_id = op.call_id}});
      break;
  }
  Log(LOG_INFO, absl::StrFormat("cancelled %s (%s)", Describe(op), why));
  ActionResult result = BaseResult(op);
  result.status = ExecStatus::kCancelled;
  result.changed = recurring;
  Emit(Report{.result = std::move(result)});
  Erase(op);
}

void ExecutorCore::Enqueue(Op& op, absl::Time now) {
  op.state = OpState::kQueued;
  op.seq = next_seq_++;
  op.since = now;
  resources_.at(op.request.resource.id).queue.push_back(op.call_id);
}

void ExecutorCore::StartReady(absl::Time now) {
  while (static_cast<int>(runs_.size()) < max_parallel_) {
    Resource* next = nullptr;
    uint64_t next_seq = 0;
    for (auto& [id, resource] : resources_) {
      if (resource.running != 0 || resource.queue.empty())
        continue;
      const uint64_t seq = ops_.at(resource.queue.front()).seq;
      if (next == nullptr || seq < next_seq) {
        next = &resource;
        next_seq = seq;
      }
    }
    if (next == nullptr)
      return;
    Op& op = ops_.at(next->queue.front());
    next->queue.pop_front();
    op.state = OpState::kRunning;
    op.run_id = next_run_id_++;
    op.since = now;
    next->running = op.call_id;
    runs_[op.run_id] = op.call_id;
    Log(LOG_DEBUG, absl::StrFormat("running %s as run %d", Describe(op), op.run_id));
    Emit(RunAgent{.run_id = op.run_id, .call_id = op.call_id, .request = op.request});
  }
}

void ExecutorCore::Erase(Op& op) {
  const std::string id = op.request.resource.id;
  ops_.erase(op.call_id);
  auto it = resources_.find(id);
  if (it != resources_.end() && !it->second.registered && it->second.running == 0 &&
      it->second.queue.empty())
    resources_.erase(it);
}

void ExecutorCore::Record(Resource& resource, const ActionResult& result) {
  resource.last[ActionKey{.action = result.action, .interval = result.interval}] = result;
  if (IsFailure(result))
    resource.last_failure = result;
}

ActionResult ExecutorCore::BaseResult(const Op& op) {
  ActionResult result;
  result.call_id = op.call_id;
  result.resource_id = op.request.resource.id;
  result.action = op.request.action;
  result.interval = op.request.interval;
  return result;
}

std::string ExecutorCore::Describe(const Op& op) {
  std::string every;
  if (op.request.interval > absl::ZeroDuration())
    every = " every " + absl::FormatDuration(op.request.interval);
  return absl::StrFormat(
      "%s %s%s (call %d)", op.request.resource.id, op.request.action, every, op.call_id);
}

void ExecutorCore::Log(int priority, std::string text) {
  effects_.push_back(LogMessage{.priority = priority, .text = std::move(text)});
}

}  // namespace ha::lrmd
