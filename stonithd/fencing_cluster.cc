#include "stonithd/fencing_cluster.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ha::stonithd {
namespace {

constexpr char kDeadlinePrefix[] = "cluster:";  // the cluster deadline's TimerKey::op_id
constexpr char kQueryPrefix[] = "query:";       // the core's QueryTargets ids
constexpr char kConfirmPrefix[] = "confirm:";   // the core's ConfirmFenced ids

int64_t Ms(absl::Time t) {
  return absl::ToUnixMillis(t);
}

LogLine Log(LogLine::Level level, std::string text) {
  return LogLine{level, std::move(text)};
}

std::string Describe(const FenceRecord& r) {
  return absl::StrCat(FenceActionName(r.action), " of ", r.target, " (op ", r.id, ")");
}

}  // namespace

FencingCluster::FencingCluster(FencingClusterOptions options)
    : options_(std::move(options)), core_(options_.core) {}

ClusterEffects FencingCluster::Handle(ClusterEvent event, Now now) {
  ClusterEffects out;
  if (auto* fence = std::get_if<LocalFence>(&event)) {
    OnLocalFence(std::move(fence->request), now, out);
  } else if (auto* confirm = std::get_if<LocalConfirm>(&event)) {
    OnLocalConfirm(confirm->confirm, now, out);
  } else if (auto* joined = std::get_if<GroupJoined>(&event)) {
    OnJoined(joined->self, out);
  } else if (auto* view = std::get_if<GroupView>(&event)) {
    OnView(std::move(view->members), now, out);
  } else if (auto* delivered = std::get_if<GroupDelivered>(&event)) {
    OnDelivered(*delivered, now, out);
  } else if (auto* lost = std::get_if<GroupLost>(&event)) {
    OnLost(lost->why, out);
  } else if (auto* finished = std::get_if<AgentFinished>(&event)) {
    FeedCore(std::move(*finished), now, out);
  } else if (auto* timer = std::get_if<TimerFired>(&event)) {
    OnTimer(timer->key, now, out);
  }
  return out;
}

// ---- Local requests ----

void FencingCluster::OnLocalFence(RequestFence request, Now now, ClusterEffects& out) {
  if (options_.standalone) {
    FeedCore(std::move(request), now, out);
    return;
  }
  WireMessage m;
  m.kind = WireMessage::kRequest;
  m.id = request.id;
  m.target = request.target;
  m.action = request.action;
  m.node = request.origin;
  m.client = request.client;
  m.time_ms = Ms(now.wall);
  m.timeout_ms = absl::ToInt64Milliseconds(request.timeout);
  m.delay_ms = absl::ToInt64Milliseconds(request.delay);
  m.tolerance_ms = absl::ToInt64Milliseconds(request.tolerance);
  m.allow_self = request.allow_self;
  FenceRecord record;
  record.id = m.id;
  record.target = m.target;
  record.action = m.action;
  record.origin = m.node;
  record.client = m.client;
  record.requested = absl::FromUnixMillis(m.time_ms);
  record.state = FenceState::kPending;
  local_[m.id] = record;
  if (joined_) {
    Send(m, out);
  } else {
    out.effects.push_back(
        Log(LogLine::kNotice,
            absl::StrCat(Describe(record), " waits until this node joins the stonithd group")));
    unsent_.push_back(std::move(m));
  }
}

void FencingCluster::OnLocalConfirm(const ConfirmFenced& confirm, Now now, ClusterEffects& out) {
  if (options_.standalone) {
    FeedCore(confirm, now, out);
    return;
  }
  WireMessage m;
  m.kind = WireMessage::kConfirm;
  m.id = confirm.id;
  m.target = confirm.target;
  m.action = FenceAction::kOff;
  m.node = confirm.origin;
  m.client = confirm.client;
  m.time_ms = Ms(now.wall);
  FenceRecord record;
  record.id = m.id;
  record.target = m.target;
  record.action = FenceAction::kOff;
  record.origin = m.node;
  record.client = m.client;
  local_[m.id] = record;
  if (joined_) {
    Send(m, out);
  } else {
    unsent_.push_back(std::move(m));
  }
}

// ---- The group ----

void FencingCluster::OnJoined(GroupMember self, ClusterEffects& out) {
  joined_ = true;
  self_ = self;
  view_.clear();
  out.effects.push_back(Log(LogLine::kNotice,
                            absl::StrCat("joined the stonithd group as ",
                                         self.node_id,
                                         ":",
                                         self.pid,
                                         unsent_.empty() ? "" : "; sending the waiting requests")));
  for (const WireMessage& m : unsent_) {
    Send(m, out);
  }
  unsent_.clear();
}

void FencingCluster::OnView(std::vector<GroupMember> members, Now now, ClusterEffects& out) {
  view_ = std::set<GroupMember>(members.begin(), members.end());
  std::vector<std::string> ids;
  for (const auto& [id, op] : ops_) {
    ids.push_back(id);
  }
  auto gone = [this](const GroupMember& m) { return view_.count(m) == 0; };
  for (const std::string& id : ids) {
    auto it = ops_.find(id);
    if (it == ops_.end()) {
      continue;
    }
    Op& op = it->second;
    std::erase_if(op.waiting, gone);
    std::erase_if(op.capable, [&](const auto& entry) { return gone(entry.first); });
    switch (op.phase) {
      case Phase::kAsking:
        MaybeChoose(op, now, out);
        break;
      case Phase::kExecuting:
        if (gone(op.executor)) {
          op.last_reason = absl::StrCat("the executing node ", op.record.delegate, " left");
          out.effects.push_back(
              Log(LogLine::kWarning,
                  absl::StrCat(op.last_reason, " during ", Describe(op.record), "; failing over")));
          if (!Choose(op, now, out)) {
            Conclude(op, op.last_reason, now, out);
          }
        }
        break;
      case Phase::kConcluding:
        if (gone(op.reporter) && !view_.empty()) {
          op.reporter = *view_.begin();
          if (op.reporter == self_) {
            SendConclusion(op, now, out);
          }
        }
        break;
    }
  }
}

void FencingCluster::OnLost(const std::string& why, ClusterEffects& out) {
  joined_ = false;
  view_.clear();
  out.effects.push_back(Log(LogLine::kWarning, absl::StrCat("left the stonithd group: ", why)));
  for (const auto& [id, op] : ops_) {
    out.effects.push_back(CancelTimer{TimerKey{kDeadlinePrefix + id, TimerKey::kDeadline}});
  }
  ops_.clear();
  pending_merged_.clear();
  std::set<std::string> unsent;
  for (const WireMessage& m : unsent_) {
    unsent.insert(m.id);
  }
  std::vector<FenceRecord> lost;
  for (const auto& [id, record] : local_) {
    if (unsent.count(id) == 0) {
      lost.push_back(record);
    }
  }
  for (FenceRecord& record : lost) {
    record.state = FenceState::kFailed;
    record.exit_reason = "This node left the stonithd group; the outcome is unknown";
    Emit(record, out);
  }
}

void FencingCluster::OnDelivered(const GroupDelivered& delivered, Now now, ClusterEffects& out) {
  if (!joined_) {
    return;
  }
  absl::StatusOr<WireMessage> m = DecodeWire(delivered.payload);
  if (!m.ok()) {
    out.effects.push_back(Log(LogLine::kWarning,
                              absl::StrCat("dropped a message from ",
                                           delivered.sender.node_id,
                                           ":",
                                           delivered.sender.pid,
                                           ": ",
                                           m.status().message())));
    return;
  }
  switch (m->kind) {
    case WireMessage::kRequest:
      OnRequest(*m, now, out);
      break;
    case WireMessage::kAnswer:
      OnAnswer(delivered.sender, *m, now, out);
      break;
    case WireMessage::kResult:
      OnResult(*m, now, out);
      break;
    case WireMessage::kExpire:
      OnExpire(*m, out);
      break;
    case WireMessage::kConfirm:
      OnConfirm(*m, now, out);
      break;
  }
}

absl::Duration FencingCluster::Deadline(const WireMessage& request) const {
  absl::Duration timeout = request.timeout_ms > 0 ? absl::Milliseconds(request.timeout_ms)
                                                  : 2 * options_.core.default_timeout;
  return timeout + absl::Milliseconds(request.delay_ms) + options_.answer_slack;
}

void FencingCluster::OnRequest(const WireMessage& m, Now now, ClusterEffects& out) {
  if (ops_.count(m.id) > 0 || pending_merged_.count(m.id) > 0) {
    return;
  }
  FenceRecord record;
  record.id = m.id;
  record.target = m.target;
  record.action = m.action;
  record.origin = m.node;
  record.client = m.client;
  record.requested = absl::FromUnixMillis(m.time_ms);
  if (m.tolerance_ms > 0) {
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (it->target == m.target && it->action == m.action && it->state == FenceState::kDone &&
          m.time_ms - Ms(it->completed) <= m.tolerance_ms) {
        FenceRecord earlier = *it;
        earlier.id = m.id;
        earlier.client = m.client;
        earlier.origin = m.node;
        earlier.requested = record.requested;
        earlier.within_tolerance = true;
        out.effects.push_back(Log(
            LogLine::kNotice,
            absl::StrCat(
                m.target, " was fenced (", it->id, ") within the tolerance: not fencing again")));
        Emit(earlier, out);
        return;
      }
    }
  }
  for (auto& [id, op] : ops_) {
    if (op.record.target == m.target && op.record.action == m.action) {
      record.merged_into = id;
      op.merged.push_back(m.id);
      pending_merged_[m.id] = record;
      out.effects.push_back(Log(LogLine::kNotice,
                                absl::StrCat("merging request ",
                                             m.id,
                                             " from ",
                                             m.client,
                                             "@",
                                             m.node,
                                             " into ",
                                             Describe(op.record))));
      Emit(record, out);
      return;
    }
  }
  Op& op = ops_[m.id];
  op.record = record;
  op.request = m;
  op.waiting = view_;
  out.effects.push_back(Log(LogLine::kNotice,
                            absl::StrCat("cluster-wide ",
                                         Describe(record),
                                         " | client=",
                                         m.client,
                                         " origin=",
                                         m.node,
                                         " members=",
                                         view_.size())));
  Emit(record, out);
  out.effects.push_back(
      ArmTimer{TimerKey{kDeadlinePrefix + m.id, TimerKey::kDeadline}, Deadline(m)});
  FeedCore(QueryTargets{kQueryPrefix + m.id, m.target}, now, out);
}

void FencingCluster::OnAnswer(const GroupMember& sender,
                              const WireMessage& m,
                              Now now,
                              ClusterEffects& out) {
  auto it = ops_.find(m.id);
  if (it == ops_.end() || it->second.phase != Phase::kAsking ||
      it->second.waiting.erase(sender) == 0) {
    return;
  }
  if (m.capable) {
    it->second.capable[sender] = Candidate{m.node, m.level};
  }
  MaybeChoose(it->second, now, out);
}

void FencingCluster::MaybeChoose(Op& op, Now now, ClusterEffects& out) {
  if (op.phase == Phase::kAsking && op.waiting.empty() && !Choose(op, now, out)) {
    Conclude(op, "No fence device", now, out);
  }
}

bool FencingCluster::Choose(Op& op, Now now, ClusterEffects& out) {
  const std::pair<const GroupMember, Candidate>* best = nullptr;
  for (const auto& entry : op.capable) {
    const auto& [member, candidate] = entry;
    if (op.tried.count(member) > 0 || view_.count(member) == 0 ||
        (candidate.node == op.record.target && !op.request.allow_self)) {
      continue;
    }
    if (best == nullptr ||
        std::tie(candidate.level, member) < std::tie(best->second.level, best->first)) {
      best = &entry;
    }
  }
  if (best == nullptr) {
    return false;
  }
  op.executor = best->first;
  op.tried.insert(op.executor);
  ++op.attempt;
  op.phase = Phase::kExecuting;
  op.record.delegate = best->second.node;
  out.effects.push_back(Log(LogLine::kInfo,
                            absl::StrCat(Describe(op.record),
                                         " executes on ",
                                         op.record.delegate,
                                         " (attempt ",
                                         op.attempt,
                                         ")")));
  if (op.executor == self_) {
    RequestFence attempt;
    attempt.id = absl::StrCat(op.record.id, "/", op.attempt);
    attempt.target = op.record.target;
    attempt.action = op.record.action;
    attempt.origin = op.record.origin;
    attempt.client = op.record.client;
    attempt.timeout = absl::Milliseconds(op.request.timeout_ms);
    attempt.delay = absl::Milliseconds(op.request.delay_ms);
    attempt.allow_self = op.request.allow_self;
    FeedCore(std::move(attempt), now, out);
  }
  return true;
}

void FencingCluster::Conclude(Op& op, std::string reason, Now now, ClusterEffects& out) {
  op.phase = Phase::kConcluding;
  ++op.attempt;  // results of earlier attempts are stale from here on
  op.conclude_reason = std::move(reason);
  if (view_.empty()) {
    return;
  }
  op.reporter = *view_.begin();
  if (op.reporter == self_) {
    SendConclusion(op, now, out);
  }
}

void FencingCluster::SendConclusion(const Op& op, Now now, ClusterEffects& out) {
  WireMessage m;
  m.kind = WireMessage::kResult;
  m.id = op.record.id;
  m.target = op.record.target;
  m.action = op.record.action;
  m.node = options_.core.local_node;
  m.attempt = op.attempt;
  m.state = FenceState::kFailed;
  m.device = op.record.device;
  m.level = op.record.level;
  m.reason = op.conclude_reason;
  m.time_ms = Ms(now.wall);
  Send(m, out);
}

void FencingCluster::OnResult(const WireMessage& m, Now now, ClusterEffects& out) {
  auto it = ops_.find(m.id);
  if (it == ops_.end() || it->second.attempt != m.attempt) {
    return;
  }
  Op& op = it->second;
  if (op.phase == Phase::kExecuting && m.state != FenceState::kDone) {
    op.record.device = m.device;
    op.record.level = m.level;
    op.last_reason = m.reason;
    const std::string failed_on = op.record.delegate;
    if (Choose(op, now, out)) {
      out.effects.push_back(Log(LogLine::kWarning,
                                absl::StrCat(Describe(op.record),
                                             " failed on ",
                                             failed_on,
                                             " (",
                                             m.reason,
                                             "); trying ",
                                             op.record.delegate)));
      return;
    }
    op.record.delegate = failed_on;
  }
  Finish(op, m.state, m.device, m.level, m.reason, m.time_ms, out);
}

void FencingCluster::OnExpire(const WireMessage& m, ClusterEffects& out) {
  auto it = ops_.find(m.id);
  if (it == ops_.end()) {
    return;
  }
  Op& op = it->second;
  Finish(op,
         FenceState::kFailed,
         op.record.device,
         op.record.level,
         absl::StrCat("Timed out after ", absl::FormatDuration(Deadline(op.request))),
         m.time_ms,
         out);
}

void FencingCluster::OnConfirm(const WireMessage& m, Now now, ClusterEffects& out) {
  FenceRecord record;
  record.id = m.id;
  record.target = m.target;
  record.action = FenceAction::kOff;
  record.state = FenceState::kDone;
  record.device = kManualAck;
  record.delegate = m.node;
  record.origin = m.node;
  record.client = m.client;
  record.requested = absl::FromUnixMillis(m.time_ms);
  record.completed = record.requested;
  out.effects.push_back(Log(LogLine::kCrit,
                            absl::StrCat("MANUAL FENCING CONFIRMATION: ",
                                         m.target,
                                         " is recorded as safely off WITHOUT any fence device, on "
                                         "the word of client ",
                                         m.client,
                                         " at ",
                                         m.node,
                                         "; if that node is in fact running, its data may be "
                                         "corrupted")));
  Record(record);
  Emit(record, out);
  std::vector<std::string> running;
  for (const auto& [id, op] : ops_) {
    if (op.record.target == m.target) {
      running.push_back(id);
    }
  }
  for (const std::string& id : running) {
    Op& op = ops_.at(id);
    Finish(op, FenceState::kDone, kManualAck, 0, "", m.time_ms, out);
  }
  for (const FenceRecord& r : core_.History(m.target)) {
    if (r.state == FenceState::kPending) {  // an attempt runs here: end it
      ConfirmFenced confirm{kConfirmPrefix + m.id, m.target, m.node, m.client};
      FeedCore(std::move(confirm), now, out);
      break;
    }
  }
}

void FencingCluster::Finish(Op& op,
                            FenceState state,
                            const std::string& device,
                            int level,
                            const std::string& reason,
                            int64_t completed_ms,
                            ClusterEffects& out) {
  out.effects.push_back(CancelTimer{TimerKey{kDeadlinePrefix + op.record.id, TimerKey::kDeadline}});
  op.record.state = state;
  op.record.device = device;
  op.record.level = level;
  op.record.exit_reason = state == FenceState::kFailed ? reason : "";
  op.record.completed = absl::FromUnixMillis(completed_ms);
  if (state == FenceState::kDone) {
    out.effects.push_back(Log(LogLine::kNotice,
                              absl::StrCat(Describe(op.record),
                                           " succeeded: ",
                                           op.record.delegate.empty() ? "" : "executed by ",
                                           op.record.delegate,
                                           " with ",
                                           device,
                                           " | client=",
                                           op.record.client,
                                           " origin=",
                                           op.record.origin)));
  } else {
    out.effects.push_back(Log(
        LogLine::kError, absl::StrCat(Describe(op.record), " FAILED: ", op.record.exit_reason)));
  }
  FenceRecord record = op.record;
  std::vector<std::string> merged = std::move(op.merged);
  ops_.erase(record.id);  // `op` is gone from here on
  Record(record);
  Emit(record, out);
  for (const std::string& id : merged) {
    auto it = pending_merged_.find(id);
    if (it == pending_merged_.end()) {
      continue;
    }
    FenceRecord copy = it->second;
    pending_merged_.erase(it);
    copy.state = record.state;
    copy.device = record.device;
    copy.delegate = record.delegate;
    copy.level = record.level;
    copy.exit_reason = record.exit_reason;
    copy.completed = record.completed;
    Record(copy);
    Emit(copy, out);
  }
}

// ---- Plumbing ----

void FencingCluster::OnTimer(const TimerKey& key, Now now, ClusterEffects& out) {
  if (!absl::StartsWith(key.op_id, kDeadlinePrefix)) {
    FeedCore(TimerFired{key}, now, out);
    return;
  }
  const std::string id = key.op_id.substr(std::strlen(kDeadlinePrefix));
  if (joined_ && ops_.count(id) > 0) {
    WireMessage m;
    m.kind = WireMessage::kExpire;
    m.id = id;
    m.node = options_.core.local_node;
    m.time_ms = Ms(now.wall);
    Send(m, out);
  }
}

void FencingCluster::FeedCore(Event event, Now now, ClusterEffects& out) {
  for (Effect& effect : core_.Handle(std::move(event), now)) {
    if (options_.standalone) {
      out.effects.push_back(std::move(effect));
      continue;
    }
    if (auto* answer = std::get_if<TargetsAnswer>(&effect)) {
      if (!joined_ || !absl::StartsWith(answer->id, kQueryPrefix)) {
        continue;
      }
      WireMessage m;
      m.kind = WireMessage::kAnswer;
      m.id = answer->id.substr(std::strlen(kQueryPrefix));
      m.target = answer->target;
      m.node = options_.core.local_node;
      m.time_ms = Ms(now.wall);
      m.capable = answer->capable;
      m.level = answer->level;
      m.devices = answer->devices;
      Send(m, out);
      continue;
    }
    if (auto* changed = std::get_if<OperationChanged>(&effect)) {
      // The core's records are this node's attempts ("<id>/<attempt>") and confirmations: only
      // an attempt's result goes anywhere, to the group.
      const FenceRecord& r = changed->record;
      const size_t slash = r.id.rfind('/');
      int attempt = 0;
      if (r.state == FenceState::kPending || slash == std::string::npos ||
          !absl::SimpleAtoi(r.id.substr(slash + 1), &attempt)) {
        continue;
      }
      auto it = ops_.find(r.id.substr(0, slash));
      if (!joined_ || it == ops_.end() || it->second.phase != Phase::kExecuting ||
          it->second.attempt != attempt || it->second.executor != self_) {
        continue;
      }
      WireMessage m;
      m.kind = WireMessage::kResult;
      m.id = it->first;
      m.target = r.target;
      m.action = r.action;
      m.node = options_.core.local_node;
      m.attempt = attempt;
      m.state = r.state;
      m.device = r.device;
      m.level = r.level;
      m.reason = r.exit_reason;
      m.time_ms = Ms(r.completed);
      Send(m, out);
      continue;
    }
    out.effects.push_back(std::move(effect));
  }
}

void FencingCluster::Send(const WireMessage& m, ClusterEffects& out) {
  out.multicasts.push_back(EncodeWire(m));
}

void FencingCluster::Emit(const FenceRecord& record, ClusterEffects& out) {
  out.effects.push_back(OperationChanged{record});
  if (record.state != FenceState::kPending) {
    local_.erase(record.id);
  }
}

void FencingCluster::Record(FenceRecord record) {
  history_.push_back(std::move(record));
  while (history_.size() > options_.core.max_history) {
    history_.pop_front();
  }
}

std::vector<FenceRecord> FencingCluster::History(std::string_view target) const {
  if (options_.standalone) {
    return core_.History(target);
  }
  std::vector<FenceRecord> out;
  auto wanted = [&](const FenceRecord& r) { return target.empty() || r.target == target; };
  for (const auto& [id, op] : ops_) {
    if (wanted(op.record)) {
      out.push_back(op.record);
    }
  }
  for (const auto& [id, record] : pending_merged_) {
    if (wanted(record)) {
      out.push_back(record);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const FenceRecord& a, const FenceRecord& b) {
    return a.requested > b.requested;
  });
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (wanted(*it)) {
      out.push_back(*it);
    }
  }
  return out;
}

}  // namespace ha::stonithd
