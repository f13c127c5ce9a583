#include "stonithd/fencing_core.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ha::stonithd {
namespace {

constexpr double kTimeoutFactor = 1.2;  // Pacemaker's TIMEOUT_MULTIPLY_FACTOR
constexpr double kRetryWindow = 0.7;    // retry only while < 70% of the timeout is used

LogLine Log(LogLine::Level level, std::string text) {
  return LogLine{level, std::move(text)};
}

bool IsOffLike(const std::string& action) {
  return action == "off" || action == "reboot";
}

}  // namespace

const char* FenceActionName(FenceAction action) {
  switch (action) {
    case FenceAction::kReboot:
      return "reboot";
    case FenceAction::kOff:
      return "off";
    case FenceAction::kOn:
      return "on";
  }
  return "?";
}

const char* FenceStateName(FenceState state) {
  switch (state) {
    case FenceState::kPending:
      return "pending";
    case FenceState::kDone:
      return "done";
    case FenceState::kFailed:
      return "failed";
  }
  return "?";
}

const char* DeviceHealthName(DeviceHealth::State state) {
  switch (state) {
    case DeviceHealth::kUnknown:
      return "unknown";
    case DeviceHealth::kOk:
      return "ok";
    case DeviceHealth::kFailed:
      return "failed";
  }
  return "?";
}

FencingCore::FencingCore(FencingCoreOptions options)
    : options_(std::move(options)), rng_(options_.seed) {}

void FencingCore::RegisterDevice(FenceDevice device) {
  lists_.erase(device.id);
  std::string id = device.id;
  devices_[id] = std::move(device);
}

bool FencingCore::UnregisterDevice(const std::string& id) {
  lists_.erase(id);
  if (auto it = monitors_.find(id); it != monitors_.end()) {
    runs_.erase(it->second.run_id);  // a running monitor's result is dropped
    monitors_.erase(it);
  }
  return devices_.erase(id) > 0;
}

std::string FencingCore::Name(const Operation& op) const {
  return absl::StrCat(
      FenceActionName(op.record.action), " of ", op.record.target, " (op ", op.record.id, ")");
}

Effects FencingCore::Handle(Event event, Now now) {
  Effects out;
  if (auto* request = std::get_if<RequestFence>(&event)) {
    OnRequest(std::move(*request), now, out);
  } else if (auto* confirm = std::get_if<ConfirmFenced>(&event)) {
    OnConfirm(*confirm, now, out);
  } else if (auto* finished = std::get_if<AgentFinished>(&event)) {
    OnAgentFinished(std::move(*finished), now, out);
  } else if (auto* timer = std::get_if<TimerFired>(&event)) {
    OnTimer(timer->key, now, out);
  } else if (auto* query = std::get_if<QueryTargets>(&event)) {
    OnQuery(*query, now, out);
  } else if (std::holds_alternative<MonitorTick>(event)) {
    for (const auto& [id, device] : devices_) {
      Monitor& m = monitors_[id];
      if (device.monitor_interval > absl::ZeroDuration() && m.run_id == 0 &&
          (m.due == absl::InfinitePast() || now.monotonic >= m.due)) {
        StartMonitor(id, out);
      }
    }
  } else if (auto* monitor = std::get_if<MonitorDevice>(&event)) {
    if (devices_.count(monitor->device) == 0) {
      out.push_back(DeviceChecked{monitor->device, DeviceHealth{.reason = "no such device"}});
    } else if (monitors_[monitor->device].run_id == 0) {
      StartMonitor(monitor->device, out);
    }
  } else if (auto* cancel = std::get_if<CancelOperation>(&event)) {
    auto it = ops_.find(cancel->id);
    if (it != ops_.end() && !it->second.query_only) {
      out.push_back(Log(LogLine::kWarning,
                        absl::StrCat("cancelling ", Name(it->second), ": ", cancel->reason)));
      Finish(it->second, FenceState::kFailed, cancel->reason, now, out);
    }
  }
  return out;
}

size_t FencingCore::running() const {
  return static_cast<size_t>(std::count_if(
      ops_.begin(), ops_.end(), [](const auto& op) { return !op.second.query_only; }));
}

DeviceHealth FencingCore::Health(const std::string& device) const {
  auto it = monitors_.find(device);
  return it == monitors_.end() ? DeviceHealth{} : it->second.health;
}

bool FencingCore::Failed(const std::string& device) const {
  return Health(device).state == DeviceHealth::kFailed;
}

void FencingCore::StartMonitor(const std::string& id, Effects& out) {
  const FenceDevice& device = devices_.at(id);
  Monitor& m = monitors_[id];
  m.run_id = next_run_id_++;
  runs_[m.run_id] = RunInfo{"", RunPurpose::kMonitor, id, "monitor"};
  out.push_back(RunAgent{m.run_id,
                         "",
                         device,
                         "monitor",
                         "",
                         device.ActionTimeout("monitor", options_.default_timeout)});
}

void FencingCore::OnMonitorResult(const std::string& id,
                                  const FenceResult& result,
                                  Now now,
                                  Effects& out) {
  auto device = devices_.find(id);
  auto it = monitors_.find(id);
  if (device == devices_.end() || it == monitors_.end()) {
    return;
  }
  Monitor& m = it->second;
  m.run_id = 0;
  m.due = now.monotonic + device->second.monitor_interval;
  const DeviceHealth::State before = m.health.state;
  m.health.state = result.ok() ? DeviceHealth::kOk : DeviceHealth::kFailed;
  m.health.last_check = now.wall;
  m.health.reason = result.ok() ? "" : (result.reason.empty() ? "agent failed" : result.reason);
  if (m.health.state == DeviceHealth::kFailed && before != DeviceHealth::kFailed) {
    out.push_back(Log(LogLine::kError,
                      absl::StrCat("fence device ",
                                   id,
                                   " failed its monitor: ",
                                   m.health.reason,
                                   "; it is used only when no healthy device can fence")));
  } else if (m.health.state == DeviceHealth::kOk && before == DeviceHealth::kFailed) {
    out.push_back(Log(LogLine::kNotice, absl::StrCat("fence device ", id, " is healthy again")));
  }
  out.push_back(DeviceChecked{id, m.health});
}

void FencingCore::OnQuery(const QueryTargets& query, Now now, Effects& out) {
  if (ops_.count(query.id) > 0) {
    out.push_back(Log(LogLine::kWarning, absl::StrCat("ignoring a repeated query ", query.id)));
    return;
  }
  Operation& op = ops_[query.id];
  op.query_only = true;
  op.record.id = query.id;
  op.record.target = query.target;
  op.record.delegate = options_.local_node;
  op.request.id = query.id;
  op.request.target = query.target;
  StartQueries(op, now, out);
}

void FencingCore::OnRequest(RequestFence request, Now now, Effects& out) {
  if (request.id.empty()) {
    request.id = absl::StrCat(options_.local_node, "-", next_op_number_++);
  }
  FenceRecord record;
  record.id = request.id;
  record.target = request.target;
  record.action = request.action;
  record.origin = request.origin;
  record.client = request.client;
  record.requested = now.wall;
  record.delegate = options_.local_node;

  if (ops_.count(request.id) > 0) {
    out.push_back(Log(LogLine::kWarning, absl::StrCat("ignoring a repeated request ", request.id)));
    return;
  }
  if (request.target == options_.local_node && !request.allow_self) {
    record.state = FenceState::kFailed;
    record.completed = now.wall;
    record.exit_reason = "Refusing to fence the local node";
    out.push_back(Log(LogLine::kError,
                      absl::StrCat("refusing to ",
                                   FenceActionName(request.action),
                                   " the local node ",
                                   request.target,
                                   " | client=",
                                   request.client,
                                   " origin=",
                                   request.origin)));
    Record(record);
    out.push_back(OperationChanged{record});
    return;
  }
  if (request.tolerance > absl::ZeroDuration()) {
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (it->target == request.target && it->action == request.action &&
          it->state == FenceState::kDone && now.wall - it->completed <= request.tolerance) {
        FenceRecord earlier = *it;
        earlier.id = request.id;
        earlier.client = request.client;
        earlier.origin = request.origin;
        earlier.requested = now.wall;
        earlier.within_tolerance = true;
        out.push_back(Log(LogLine::kNotice,
                          absl::StrCat(request.target,
                                       " was fenced (",
                                       it->id,
                                       ") within the tolerance: not fencing again")));
        out.push_back(OperationChanged{earlier});
        return;
      }
    }
  }
  for (auto& [id, op] : ops_) {
    if (!op.query_only && op.record.target == request.target &&
        op.record.action == request.action) {
      record.merged_into = id;
      op.merged.push_back(request.id);
      out.push_back(Log(LogLine::kNotice,
                        absl::StrCat("merging request ",
                                     request.id,
                                     " from ",
                                     request.client,
                                     " into the running ",
                                     Name(op))));
      out.push_back(OperationChanged{record});
      pending_merged_[request.id] = record;
      return;
    }
  }

  Operation& op = ops_[request.id];
  op.record = record;
  op.request = std::move(request);
  out.push_back(Log(
      LogLine::kNotice,
      absl::StrCat(
          "requesting ", Name(op), " | client=", op.record.client, " origin=", op.record.origin)));
  out.push_back(OperationChanged{op.record});
  StartQueries(op, now, out);
}

void FencingCore::StartQueries(Operation& op, Now now, Effects& out) {
  op.phase = Phase::kQuerying;
  std::vector<const FencingLevel*> levels = topology_.LevelsFor(op.record.target, node_attributes_);
  std::set<std::string> wanted;
  if (!op.request.devices.empty()) {
    for (const std::string& id : op.request.devices) {
      if (devices_.count(id) > 0) {
        wanted.insert(id);
      }
    }
  } else if (levels.empty()) {
    for (const auto& [id, device] : devices_) {
      wanted.insert(id);
    }
  } else {
    for (const FencingLevel* level : levels) {
      for (const std::string& id : level->devices) {
        if (devices_.count(id) > 0) {
          wanted.insert(id);
        }
      }
    }
  }
  const std::string op_id = op.record.id;
  for (const std::string& id : wanted) {
    const FenceDevice& device = devices_.at(id);
    switch (CheckTarget(device, op.record.target)) {
      case TargetCheck::kCapable:
        op.capable.insert(id);
        break;
      case TargetCheck::kNotCapable:
        break;
      case TargetCheck::kNeedsList: {
        auto cached = lists_.find(id);
        if (cached != lists_.end() && now.monotonic - cached->second.at < options_.list_cache_ttl) {
          if (DeviceListsTarget(device, op.record.target, cached->second.targets)) {
            op.capable.insert(id);
          }
          break;
        }
        [[fallthrough]];
      }
      case TargetCheck::kNeedsStatus: {
        bool list = device.host_check == HostCheck::kDynamicList;
        std::string action = list ? "list" : "status";
        int64_t run_id = next_run_id_++;
        runs_[run_id] = RunInfo{op_id, RunPurpose::kQuery, id, action};
        op.queries[run_id] = id;
        out.push_back(RunAgent{run_id,
                               op_id,
                               device,
                               action,
                               list ? "" : op.record.target,
                               device.ActionTimeout(action, options_.default_timeout)});
        break;
      }
    }
  }
  if (op.queries.empty()) {
    Plan(op, now, out);
  }
}

void FencingCore::OnQueryResult(
    Operation& op, const RunInfo& run, const FenceResult& result, Now now, Effects& out) {
  auto device = devices_.find(run.device);
  if (device != devices_.end()) {
    if (run.action == "list") {
      if (result.ok()) {
        lists_[run.device] = CachedList{ParseTargetList(result.stdout_tail), now.monotonic};
      } else {
        out.push_back(Log(LogLine::kWarning,
                          absl::StrCat("list of device ",
                                       run.device,
                                       " failed: ",
                                       result.reason,
                                       lists_.count(run.device) ? " (using its last list)" : "")));
      }
      auto cached = lists_.find(run.device);
      if (cached != lists_.end() &&
          DeviceListsTarget(device->second, op.record.target, cached->second.targets)) {
        op.capable.insert(run.device);
      }
    } else if (result.ok()) {  // status: 0 (on) or 2 (off), the device sees the target
      op.capable.insert(run.device);
    }
  }
  if (op.queries.empty()) {
    Plan(op, now, out);
  }
}

void FencingCore::Plan(Operation& op, Now now, Effects& out) {
  const std::string& target = op.record.target;
  const FenceAction action = op.record.action;
  std::erase_if(op.capable, [this](const std::string& id) { return devices_.count(id) == 0; });
  auto make_step = [&](int level, const std::vector<std::string>& ids) {
    Step step;
    step.level = level;
    bool single_reboot = ids.size() == 1 && devices_.at(ids[0]).RunsReboot();
    if (action == FenceAction::kReboot && !single_reboot) {
      for (const std::string& id : ids) {
        step.subs.push_back(SubAction{id, "off", false});
      }
      for (const std::string& id : ids) {
        step.subs.push_back(SubAction{id, "on", true});
      }
    } else {
      for (const std::string& id : ids) {
        step.subs.push_back(SubAction{id, std::string(FenceActionName(action)), false});
      }
    }
    op.steps.push_back(std::move(step));
  };

  std::vector<const FencingLevel*> levels = topology_.LevelsFor(target, node_attributes_);
  if (!op.request.devices.empty()) {
    std::vector<std::string> missing;
    for (const std::string& id : op.request.devices) {
      if (op.capable.count(id) == 0) {
        missing.push_back(id);
      }
    }
    if (missing.empty()) {
      make_step(op.request.level, op.request.devices);
    } else {
      op.last_reason = absl::StrCat(absl::StrJoin(missing, ","), " cannot fence the target here");
    }
  } else if (!levels.empty()) {
    for (const FencingLevel* level : levels) {
      std::vector<std::string> missing;
      for (const std::string& id : level->devices) {
        if (op.capable.count(id) == 0) {
          missing.push_back(id);
        }
      }
      if (!missing.empty()) {
        out.push_back(Log(op.query_only ? LogLine::kDebug : LogLine::kWarning,
                          absl::StrCat("skipping topology level ",
                                       level->index,
                                       " for ",
                                       Name(op),
                                       ": ",
                                       absl::StrJoin(missing, ","),
                                       " cannot fence the target")));
        continue;
      }
      make_step(level->index, level->devices);
    }
  } else {
    std::vector<const FenceDevice*> capable;
    for (const std::string& id : op.capable) {
      capable.push_back(&devices_.at(id));
    }
    // Healthy (or not yet checked) devices first, then by priority.
    std::stable_sort(
        capable.begin(), capable.end(), [this](const FenceDevice* a, const FenceDevice* b) {
          return std::make_pair(Failed(a->id), -a->priority) <
                 std::make_pair(Failed(b->id), -b->priority);
        });
    // Unfencing goes through every capable device that provides it, in one step (each must
    // succeed), as Pacemaker unfences; other actions try one device after the other.
    std::vector<std::string> unfencing;
    for (const FenceDevice* device : capable) {
      if (action == FenceAction::kOn && device->provides_unfencing) {
        unfencing.push_back(device->id);
      }
    }
    if (!unfencing.empty()) {
      make_step(0, unfencing);
    } else {
      for (const FenceDevice* device : capable) {
        make_step(0, {device->id});
      }
    }
  }
  if (op.query_only) {
    TargetsAnswer answer;
    answer.id = op.record.id;
    answer.target = target;
    answer.capable = !op.steps.empty();
    answer.capable_devices.assign(op.capable.begin(), op.capable.end());
    for (const FencingLevel* level : levels) {
      answer.levels.emplace_back(level->index, level->devices);
    }
    if (answer.capable) {
      answer.level = op.steps[0].level;
      for (const SubAction& sub : op.steps[0].subs) {
        answer.degraded = answer.degraded || Failed(sub.device);
      }
      for (const SubAction& sub : op.steps[0].subs) {
        if (std::find(answer.devices.begin(), answer.devices.end(), sub.device) ==
            answer.devices.end()) {
          answer.devices.push_back(sub.device);
        }
      }
    }
    ops_.erase(answer.id);  // `op` is gone from here on
    out.push_back(std::move(answer));
    return;
  }
  if (op.steps.empty()) {
    Finish(op,
           FenceState::kFailed,
           op.last_reason.empty() ? "No fence device" : op.last_reason,
           now,
           out);
    return;
  }
  // A request's own timeout does not count its delay (as Pacemaker adds the client's delay).
  op.total_timeout = op.request.timeout > absl::ZeroDuration()
                         ? op.request.timeout + op.request.delay
                         : TotalTimeout(op);
  out.push_back(ArmTimer{TimerKey{op.record.id, TimerKey::kDeadline}, op.total_timeout});
  op.step = 0;
  op.sub = 0;
  StartSub(op, now, out);
}

absl::Duration FencingCore::TotalTimeout(const Operation& op) const {
  absl::Duration total = op.request.delay;
  for (const Step& step : op.steps) {
    for (const SubAction& sub : step.subs) {
      const FenceDevice& device = devices_.at(sub.device);
      total += device.ActionTimeout(sub.action, options_.default_timeout);
      if (IsOffLike(sub.action)) {
        total += std::max(device.delay_max, device.DelayBaseFor(op.record.target));
      }
    }
  }
  return total * kTimeoutFactor;
}

absl::Duration FencingCore::DeviceDelay(const FenceDevice& device, std::string_view target) {
  absl::Duration base = device.DelayBaseFor(target);
  absl::Duration max = device.delay_max;
  if (max <= base) {
    return base;
  }
  int64_t span_ms = absl::ToInt64Milliseconds(max - base);
  std::uniform_int_distribution<int64_t> dist(0, span_ms);
  return base + absl::Milliseconds(dist(rng_));
}

void FencingCore::StartSub(Operation& op, Now now, Effects& out) {
  const SubAction& sub = op.steps[op.step].subs[op.sub];
  op.tries = 0;
  op.first_try = absl::InfinitePast();
  absl::Duration delay = absl::ZeroDuration();
  if (!op.request_delay_done) {
    op.request_delay_done = true;
    delay += op.request.delay;
  }
  auto device = devices_.find(sub.device);
  if (device != devices_.end() && IsOffLike(sub.action)) {
    delay += DeviceDelay(device->second, op.record.target);
  }
  if (delay > absl::ZeroDuration()) {
    op.phase = Phase::kDelaying;
    out.push_back(Log(LogLine::kNotice,
                      absl::StrCat("delaying ",
                                   sub.action,
                                   " of ",
                                   op.record.target,
                                   " with ",
                                   sub.device,
                                   " by ",
                                   absl::FormatDuration(delay),
                                   " (op ",
                                   op.record.id,
                                   ")")));
    out.push_back(ArmTimer{TimerKey{op.record.id, TimerKey::kDelay}, delay});
    return;
  }
  RunSub(op, now, out);
}

void FencingCore::NoteFenced(const std::string& target, const std::string& id, absl::Time when) {
  Fenced& f = fenced_[target];
  if (when >= f.when) {
    f = Fenced{id, when};
  }
}

bool FencingCore::StillWanted(Operation& op, Now now, Effects& out) {
  const std::string& target = op.record.target;
  std::string why;
  if (members_.count(target) > 0) {
    why = absl::StrCat(target, " is a member again");
  } else if (quorate_.has_value() && !*quorate_) {
    why = "this node lost quorum";
  } else if (auto it = fenced_.find(target);
             it != fenced_.end() && it->second.when >= op.record.requested) {
    out.push_back(Log(LogLine::kNotice,
                      absl::StrCat("not shooting ",
                                   target,
                                   " after the delay of ",
                                   Name(op),
                                   ": operation ",
                                   it->second.id,
                                   " fenced it meanwhile")));
    op.record.merged_into = it->second.id;
    Finish(op, FenceState::kDone, "", now, out);
    return false;
  } else {
    return true;
  }
  out.push_back(
      Log(LogLine::kWarning,
          absl::StrCat("not shooting ", target, " after the delay of ", Name(op), ": ", why)));
  Finish(op, FenceState::kFailed, absl::StrCat("Not fenced: ", why), now, out);
  return false;
}

void FencingCore::RunSub(Operation& op, Now now, Effects& out) {
  const SubAction& sub = op.steps[op.step].subs[op.sub];
  // The seed's stonith-helper: once the delays are over, before the first shot, check that
  // shooting is still wanted.
  if (op.request.only_if_lost && !op.still_checked && IsOffLike(sub.action)) {
    op.still_checked = true;
    if (!StillWanted(op, now, out)) {
      return;
    }
  }
  auto device = devices_.find(sub.device);
  if (device == devices_.end()) {
    op.last_reason = absl::StrCat("device ", sub.device, " was removed");
    FenceResult removed;
    removed.action = sub.action;
    removed.status = lrmd::ExecStatus::kNotInstalled;
    removed.reason = op.last_reason;
    OnExecResult(op, removed, now, out);
    return;
  }
  absl::Duration timeout = device->second.ActionTimeout(sub.action, options_.default_timeout);
  if (op.tries == 0) {
    op.first_try = now.monotonic;
    op.timeout = timeout;
  } else {
    timeout = op.timeout - (now.monotonic - op.first_try);
  }
  ++op.tries;
  op.phase = Phase::kExecuting;
  op.run_id = next_run_id_++;
  op.record.device = sub.device;
  op.record.level = op.steps[op.step].level;
  runs_[op.run_id] = RunInfo{op.record.id, RunPurpose::kExecute, sub.device, sub.action};
  out.push_back(Log(LogLine::kInfo,
                    absl::StrCat("running ",
                                 sub.action,
                                 " of ",
                                 op.record.target,
                                 " with ",
                                 sub.device,
                                 " (try ",
                                 op.tries,
                                 ", op ",
                                 op.record.id,
                                 ")")));
  out.push_back(
      RunAgent{op.run_id, op.record.id, device->second, sub.action, op.record.target, timeout});
}

void FencingCore::OnAgentFinished(AgentFinished finished, Now now, Effects& out) {
  auto run = runs_.find(finished.run_id);
  if (run == runs_.end()) {
    return;  // the operation ended (manual confirmation, timeout) while it ran
  }
  RunInfo info = run->second;
  runs_.erase(run);
  if (info.purpose == RunPurpose::kMonitor) {
    OnMonitorResult(info.device, finished.result, now, out);
    return;
  }
  auto op = ops_.find(info.op_id);
  if (op == ops_.end()) {
    return;
  }
  if (info.purpose == RunPurpose::kQuery) {
    op->second.queries.erase(finished.run_id);
    OnQueryResult(op->second, info, finished.result, now, out);
    return;
  }
  if (op->second.run_id != finished.run_id) {
    return;
  }
  op->second.run_id = 0;
  OnExecResult(op->second, finished.result, now, out);
}

void FencingCore::OnExecResult(Operation& op, const FenceResult& result, Now now, Effects& out) {
  const SubAction& sub = op.steps[op.step].subs[op.sub];
  if (result.ok()) {
    out.push_back(Log(LogLine::kInfo,
                      absl::StrCat(sub.action,
                                   " of ",
                                   op.record.target,
                                   " with ",
                                   sub.device,
                                   " succeeded (op ",
                                   op.record.id,
                                   ")")));
    if (++op.sub < op.steps[op.step].subs.size()) {
      StartSub(op, now, out);
    } else {
      Finish(op, FenceState::kDone, "", now, out);
    }
    return;
  }
  op.last_reason = result.reason.empty() ? "agent failed" : result.reason;
  auto device = devices_.find(sub.device);
  int tries = device == devices_.end() ? 0 : device->second.ActionTries(sub.action);
  bool retry = op.tries < tries && result.status != lrmd::ExecStatus::kTimedOut &&
               result.status != lrmd::ExecStatus::kNotInstalled &&
               result.status != lrmd::ExecStatus::kCancelled &&
               now.monotonic - op.first_try < op.timeout * kRetryWindow;
  out.push_back(Log(retry ? LogLine::kWarning : LogLine::kError,
                    absl::StrCat(sub.action,
                                 " of ",
                                 op.record.target,
                                 " with ",
                                 sub.device,
                                 " failed (try ",
                                 op.tries,
                                 " of ",
                                 tries,
                                 "): ",
                                 op.last_reason,
                                 retry ? "; retrying" : "",
                                 " (op ",
                                 op.record.id,
                                 ")")));
  if (retry) {
    op.phase = Phase::kRetryWait;
    out.push_back(ArmTimer{TimerKey{op.record.id, TimerKey::kRetry}, options_.retry_pause});
    return;
  }
  if (sub.tolerated) {
    op.on_failed = true;
    out.push_back(Log(LogLine::kWarning,
                      absl::StrCat("the target ",
                                   op.record.target,
                                   " is off but could not be turned back on with ",
                                   sub.device)));
    if (++op.sub < op.steps[op.step].subs.size()) {
      StartSub(op, now, out);
    } else {
      Finish(op, FenceState::kDone, "", now, out);
    }
    return;
  }
  NextStep(op, now, out);
}

void FencingCore::NextStep(Operation& op, Now now, Effects& out) {
  if (++op.step >= op.steps.size()) {
    Finish(op, FenceState::kFailed, op.last_reason, now, out);
    return;
  }
  out.push_back(Log(LogLine::kNotice,
                    absl::StrCat("falling through to ",
                                 op.steps[op.step].level > 0
                                     ? absl::StrCat("topology level ", op.steps[op.step].level)
                                     : absl::StrCat("device ", op.steps[op.step].subs[0].device),
                                 " for ",
                                 Name(op))));
  op.sub = 0;
  StartSub(op, now, out);
}

void FencingCore::OnTimer(const TimerKey& key, Now now, Effects& out) {
  auto it = ops_.find(key.op_id);
  if (it == ops_.end()) {
    return;
  }
  Operation& op = it->second;
  switch (key.kind) {
    case TimerKey::kDelay:
      if (op.phase == Phase::kDelaying) {
        RunSub(op, now, out);
      }
      break;
    case TimerKey::kRetry:
      if (op.phase == Phase::kRetryWait) {
        RunSub(op, now, out);
      }
      break;
    case TimerKey::kDeadline:
      Finish(op,
             FenceState::kFailed,
             absl::StrCat("Timed out after ", absl::FormatDuration(op.total_timeout)),
             now,
             out);
      break;
  }
}

void FencingCore::OnConfirm(const ConfirmFenced& confirm, Now now, Effects& out) {
  FenceRecord record;
  record.id =
      confirm.id.empty() ? absl::StrCat(options_.local_node, "-", next_op_number_++) : confirm.id;
  record.target = confirm.target;
  record.action = FenceAction::kOff;
  record.state = FenceState::kDone;
  record.device = kManualAck;
  record.delegate = options_.local_node;
  record.origin = confirm.origin;
  record.client = confirm.client;
  record.requested = now.wall;
  record.completed = now.wall;
  out.push_back(Log(LogLine::kCrit,
                    absl::StrCat("MANUAL FENCING CONFIRMATION: ",
                                 confirm.target,
                                 " is recorded as safely off WITHOUT any fence device, on the word "
                                 "of client ",
                                 confirm.client,
                                 " at ",
                                 confirm.origin,
                                 "; if that node is in fact running, its data may be corrupted")));
  Record(record);
  out.push_back(OperationChanged{record});
  std::vector<std::string> pending;
  for (const auto& [id, op] : ops_) {
    if (!op.query_only && op.record.target == confirm.target) {
      pending.push_back(id);
    }
  }
  for (const std::string& id : pending) {
    Operation& op = ops_.at(id);
    op.record.device = kManualAck;
    op.record.level = 0;
    Finish(op, FenceState::kDone, "", now, out);
  }
}

void FencingCore::Finish(
    Operation& op, FenceState state, std::string reason, Now now, Effects& out) {
  for (const auto& [run_id, device] : op.queries) {
    runs_.erase(run_id);
    out.push_back(CancelRun{run_id});
  }
  if (op.run_id != 0) {
    runs_.erase(op.run_id);
    out.push_back(CancelRun{op.run_id});
  }
  for (TimerKey::Kind kind : {TimerKey::kDelay, TimerKey::kRetry, TimerKey::kDeadline}) {
    out.push_back(CancelTimer{TimerKey{op.record.id, kind}});
  }
  op.record.state = state;
  op.record.completed = now.wall;
  op.record.exit_reason = state == FenceState::kFailed ? std::move(reason) : "";
  if (state == FenceState::kDone) {
    out.push_back(Log(LogLine::kNotice,
                      absl::StrCat("operation ",
                                   op.record.id,
                                   ": ",
                                   op.record.target,
                                   " was ",
                                   op.record.action == FenceAction::kOn ? "turned on" : "fenced",
                                   " (",
                                   FenceActionName(op.record.action),
                                   ") by ",
                                   op.record.device,
                                   op.on_failed ? " (left off)" : "",
                                   " | client=",
                                   op.record.client,
                                   " origin=",
                                   op.record.origin)));
  } else {
    out.push_back(Log(LogLine::kError,
                      absl::StrCat("operation ",
                                   op.record.id,
                                   ": ",
                                   FenceActionName(op.record.action),
                                   " of ",
                                   op.record.target,
                                   " FAILED: ",
                                   op.record.exit_reason)));
  }
  FenceRecord record = op.record;
  std::vector<std::string> merged = std::move(op.merged);
  ops_.erase(op.record.id);  // `op` is gone from here on
  Record(record);
  out.push_back(OperationChanged{record});
  for (const std::string& id : merged) {
    auto it = pending_merged_.find(id);
    if (it == pending_merged_.end()) {
      continue;
    }
    FenceRecord copy = it->second;
    pending_merged_.erase(it);
    copy.state = record.state;
    copy.device = record.device;
    copy.level = record.level;
    copy.exit_reason = record.exit_reason;
    copy.completed = record.completed;
    Record(copy);
    out.push_back(OperationChanged{copy});
  }
}

void FencingCore::Record(FenceRecord record) {
  history_.push_back(std::move(record));
  while (history_.size() > options_.max_history) {
    history_.pop_front();
  }
}

std::vector<FenceRecord> ListHistory(std::vector<FenceRecord> running,
                                     const std::map<std::string, FenceRecord>& pending,
                                     const std::deque<FenceRecord>& finished,
                                     std::string_view target) {
  auto wanted = [&](const FenceRecord& r) { return target.empty() || r.target == target; };
  std::vector<FenceRecord> out;
  for (FenceRecord& record : running) {
    if (wanted(record))
      out.push_back(std::move(record));
  }
  for (const auto& [id, record] : pending) {
    if (wanted(record))
      out.push_back(record);
  }
  std::stable_sort(out.begin(), out.end(), [](const FenceRecord& a, const FenceRecord& b) {
    return a.requested > b.requested;
  });
  for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
    if (wanted(*it))
      out.push_back(*it);
  }
  return out;
}

std::vector<FenceRecord> FencingCore::History(std::string_view target) const {
  std::vector<FenceRecord> running;
  for (const auto& [id, op] : ops_) {
    if (!op.query_only)
      running.push_back(op.record);
  }
  return ListHistory(std::move(running), pending_merged_, history_, target);
}

}  // namespace ha::stonithd
