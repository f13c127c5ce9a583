#include "stonithd/fencing_cluster.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "stonithd/fencing_cluster_internal.h"

namespace ha::stonithd {

using cluster_internal::Describe;
using cluster_internal::kConfirmPrefix;
using cluster_internal::kDeadlinePrefix;
using cluster_internal::kQueryPrefix;
using cluster_internal::kSyncTimer;
using cluster_internal::Log;
using cluster_internal::Ms;

FencingCluster::FencingCluster(FencingClusterOptions options)
    : options_(std::move(options)),
      core_(options_.core),
      incarnation_(options_.incarnation.empty() ? absl::StrCat("s", options_.core.seed)
                                                : options_.incarnation) {}

ClusterEffects FencingCluster::Handle(ClusterEvent event, Now now) {
  ClusterEffects out;
  if (fenced_self_) {
    return out;  // stopping for good
  }
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
    OnLost(lost->why, now, out);
  } else if (auto* finished = std::get_if<AgentFinished>(&event)) {
    FeedCore(std::move(*finished), now, out);
  } else if (auto* timer = std::get_if<TimerFired>(&event)) {
    OnTimer(timer->key, now, out);
  } else if (std::holds_alternative<MonitorTick>(event)) {
    FeedCore(MonitorTick{}, now, out);
  } else if (auto* monitor = std::get_if<MonitorDevice>(&event)) {
    FeedCore(*monitor, now, out);
  }
  return out;
}

// ---- Configuration ----

void FencingCluster::UpdateCoreMembership() {
  std::set<std::string> members = {options_.core.local_node};
  for (const GroupMember& member : view_) {
    if (auto it = member_names_.find(member); it != member_names_.end()) {
      members.insert(it->second);
    } else if (auto name = node_names_.find(member.node_id); name != node_names_.end()) {
      members.insert(name->second);
    }
  }
  core_.SetMembership(std::move(members), quorate_);
}

void FencingCluster::SetClusterOptions(const FencingOptions& options) {
  cluster_options_ = options;
  options_.core.default_timeout = options.timeout;
  core_.SetDefaultTimeout(options.timeout);
}

void FencingCluster::SetNodes(std::set<std::string> nodes,
                              std::map<uint32_t, std::string> names,
                              std::map<std::string, int> priorities) {
  nodes_ = std::move(nodes);
  node_names_ = std::move(names);
  node_priorities_ = std::move(priorities);
  UpdateCoreMembership();
}

absl::Duration FencingCluster::PriorityDelay(const RequestFence& request,
                                             ClusterEffects& out) const {
  if (request.delay > absl::ZeroDuration() || request.action == FenceAction::kOn ||
      cluster_options_.priority_delay <= absl::ZeroDuration()) {
    return absl::ZeroDuration();
  }
  std::set<std::string> online = {options_.core.local_node};
  for (const GroupMember& member : view_) {
    if (auto it = node_names_.find(member.node_id); it != node_names_.end()) {
      online.insert(it->second);
    }
  }
  absl::Duration delay = PriorityFencingDelay(
      request.target, node_priorities_, nodes_, online, cluster_options_.priority_delay);
  if (delay > absl::ZeroDuration()) {
    auto mine = node_priorities_.find(request.target);
    out.effects.push_back(Log(LogLine::kNotice,
                              absl::StrCat("priority-fencing-delay of ",
                                           absl::FormatDuration(delay),
                                           " for ",
                                           FenceActionName(request.action),
                                           " of ",
                                           request.target,
                                           ": it runs the resources of the highest priority (",
                                           mine == node_priorities_.end() ? 0 : mine->second,
                                           ") and this partition has ",
                                           online.size(),
                                           " of ",
                                           nodes_.size(),
                                           " nodes")));
  }
  return delay;
}

// ---- Local requests ----

void FencingCluster::OnLocalFence(RequestFence request, Now now, ClusterEffects& out) {
  if (options_.standalone) {
    FeedCore(std::move(request), now, out);
    return;
  }
  if (request.delay <= absl::ZeroDuration()) {
    request.delay = PriorityDelay(request, out);
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
  m.only_if_lost = request.only_if_lost;
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
  raw_view_.clear();
  delivered_view_.clear();
  refused_.clear();
  incarnations_.clear();
  ResetSync(out);
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
  if (!joined_) {
    return;
  }
  latest_view_size_ = 0;
  bool grew = false;
  for (const GroupMember& m : members) {
    latest_view_size_ += refused_.count(m) == 0 ? 1 : 0;
    grew = grew || delivered_view_.count(m) == 0;
  }
  delivered_view_ = std::set<GroupMember>(members.begin(), members.end());
  if (grew) {
    // Who this member is, for the ones that joined (fenced incarnations are refused by it).
    WireMessage hello;
    hello.kind = WireMessage::kHello;
    hello.id = "hello";
    hello.node = options_.core.local_node;
    hello.time_ms = Ms(now.wall);
    Send(hello, out);
  }
  if (!synced_) {
    if (buffer_.empty() && members.size() == 1 && members[0] == self_) {
      // Alone in the group: nothing to receive.
      synced_ = true;
      synced_members_ = {self_};
      ProcessView(std::move(members), now, out);
      return;
    }
    if (buffer_.empty()) {
      out.effects.push_back(
          Log(LogLine::kInfo,
              absl::StrCat("waiting for the fencing history and operations of the stonithd group (",
                           members.size(),
                           " members)")));
      out.effects.push_back(ArmTimer{TimerKey{kSyncTimer, TimerKey::kDeadline}, SyncWait()});
    }
    buffer_.push_back(Buffered{true, std::move(members), {}});
    return;
  }
  ProcessView(std::move(members), now, out);
}

void FencingCluster::ProcessView(std::vector<GroupMember> members, Now now, ClusterEffects& out) {
  const std::set<GroupMember> before = view_;
  raw_view_ = std::set<GroupMember>(members.begin(), members.end());
  std::erase_if(refused_, [this](const GroupMember& m) { return raw_view_.count(m) == 0; });
  std::erase_if(incarnations_,
                [this](const auto& entry) { return raw_view_.count(entry.first) == 0; });
  view_.clear();
  for (const GroupMember& m : raw_view_) {
    if (refused_.count(m) == 0) {
      view_.insert(m);
    }
  }
  auto gone = [this](const GroupMember& m) { return view_.count(m) == 0; };
  DropGone(now, out);
  // Members that joined wait for the group's state: the lowest member in step sends it, again
  // when the one that should have sent it leaves first.
  auto lowest_synced = [this](const std::set<GroupMember>& view) -> std::optional<GroupMember> {
    for (const GroupMember& m : view) {
      if (synced_members_.count(m) > 0) {
        return m;
      }
    }
    return std::nullopt;
  };
  const std::optional<GroupMember> sender_before = lowest_synced(before);
  std::erase_if(synced_members_, gone);
  std::erase_if(awaiting_, [&](const auto& entry) { return gone(entry.first); });
  for (auto& [member, views] : awaiting_) {
    ++views;
  }
  bool added = false;
  for (const GroupMember& m : view_) {
    if (synced_members_.count(m) == 0 && awaiting_.count(m) == 0) {
      awaiting_[m] = 0;
      added = true;
    }
  }
  std::erase_if(member_names_, [&](const auto& entry) { return gone(entry.first); });
  UpdateCoreMembership();
  if (!awaiting_.empty() && lowest_synced(view_) == self_ &&
      (added || !sender_before.has_value() || gone(*sender_before))) {
    SendState(now, out);
  }
}

void FencingCluster::DropGone(Now now, ClusterEffects& out) {
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
          op.spread_level = 0;
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

void FencingCluster::OnLost(const std::string& why, Now now, ClusterEffects& out) {
  joined_ = false;
  view_.clear();
  raw_view_.clear();
  delivered_view_.clear();
  refused_.clear();
  incarnations_.clear();
  latest_view_size_ = 0;
  ResetSync(out);
  out.effects.push_back(Log(LogLine::kWarning, absl::StrCat("left the stonithd group: ", why)));
  for (const auto& [id, op] : ops_) {
    out.effects.push_back(CancelTimer{TimerKey{kDeadlinePrefix + id, TimerKey::kDeadline}});
  }
  // The others fail over without this node: an attempt running here must not go on and fence
  // the target a second time.
  for (const auto& [id, op] : ops_) {
    if (op.phase == Phase::kExecuting && op.executor == self_) {
      CancelAttempt(absl::StrCat(id, "/", op.attempt),
                    op.record.target,
                    "this node left the stonithd group",
                    now,
                    out);
    }
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
  if (!synced_) {
    absl::StatusOr<WireMessage> m = DecodeWire(delivered.payload);
    if (m.ok() && m->kind == WireMessage::kFenced && m->fenced_incarnation == incarnation_) {
      OnFenced(*m, out);  // told while joining: stop at once
      return;
    }
    if (m.ok() && m->kind == WireMessage::kHistory) {
      std::map<GroupMember, int> sync_for = ParseSyncFor(m->sync_for);
      if (auto it = sync_for.find(self_); it != sync_for.end()) {
        InstallState(*m, it->second, now, out);
        return;
      }
    }
    buffer_.push_back(Buffered{false, {}, delivered});
    return;
  }
  ProcessDelivered(delivered, now, out);
}

void FencingCluster::ProcessDelivered(const GroupDelivered& delivered,
                                      Now now,
                                      ClusterEffects& out) {
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
  if (!Admit(delivered.sender, *m, now, out)) {
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
      OnExpire(*m, now, out);
      break;
    case WireMessage::kConfirm:
      OnConfirm(*m, now, out);
      break;
    case WireMessage::kHistory:
      OnHistory(*m, out);
      break;
    case WireMessage::kHello:
      OnHello(delivered.sender, *m, out);
      break;
    case WireMessage::kFenced:
      OnFenced(*m, out);
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
  if (auto known = known_.find(m.target); known != known_.end()) {
    op.target_incarnations.assign(known->second.begin(), known->second.end());
  }
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
  if (!m.node.empty() && member_names_[sender] != m.node) {
    member_names_[sender] = m.node;
    UpdateCoreMembership();
  }
  if (m.capable) {
    it->second.capable[sender] = Candidate{m.node, m.level, m.degraded};
  }
  if (!m.capable_devices.empty() || !m.levels.empty()) {
    it->second.holdings[sender] = Holdings{m.node, m.capable_devices, m.levels};
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
    if (best == nullptr || std::tie(candidate.level, candidate.degraded, member) <
                               std::tie(best->second.level, best->second.degraded, best->first)) {
      best = &entry;
    }
  }
  Spread spread =
      PlanSpread(op, best == nullptr ? std::numeric_limits<int>::max() : best->second.level);
  if (spread.level != 0) {
    op.spread_level = spread.level;
    op.spread_tried.insert(spread.level);
    op.parts = std::move(spread.parts);
    op.part = 0;
    std::vector<std::string> where;
    for (const Part& p : op.parts) {
      where.push_back(absl::StrCat(FenceActionName(p.action), " with ", p.device, " on ", p.node));
    }
    out.effects.push_back(Log(LogLine::kNotice,
                              absl::StrCat(Describe(op.record),
                                           ": topology level ",
                                           op.spread_level,
                                           " is spread over several nodes: ",
                                           absl::StrJoin(where, ", "))));
    StartPart(op, now, out);
    return true;
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
    attempt.only_if_lost = op.request.only_if_lost;
    FeedCore(std::move(attempt), now, out);
  }
  return true;
}

FencingCluster::Spread FencingCluster::PlanSpread(const Op& op, int below) const {
  // The target's levels as the answering members have them; a level the members disagree on is
  // taken from the lowest member that has it.
  std::map<int, std::vector<std::string>> levels;
  for (const auto& [member, holdings] : op.holdings) {
    for (absl::string_view level : absl::StrSplit(holdings.levels, ';', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(level, absl::MaxSplits('=', 1));
      int index = 0;
      if (absl::SimpleAtoi(kv.first, &index)) {
        levels.emplace(index,
                       std::vector<std::string>(absl::StrSplit(kv.second, '+', absl::SkipEmpty())));
      }
    }
  }
  for (const auto& [index, devices] : levels) {
    if (index >= below) {
      break;
    }
    if (op.spread_tried.count(index) > 0 || devices.empty()) {
      continue;
    }
    Spread spread;
    spread.level = index;
    std::set<GroupMember> runners;
    for (const std::string& device : devices) {
      const std::pair<const GroupMember, Holdings>* holder = nullptr;
      for (const auto& entry : op.holdings) {
        const auto& [member, holdings] = entry;
        if (view_.count(member) > 0 &&
            (holdings.node != op.record.target || op.request.allow_self) &&
            std::find(holdings.devices.begin(), holdings.devices.end(), device) !=
                holdings.devices.end()) {
          holder = &entry;
          break;
        }
      }
      if (holder == nullptr) {
        spread.level = 0;
        break;
      }
      runners.insert(holder->first);
      spread.parts.push_back(Part{holder->first, holder->second.node, device});
    }
    if (spread.level == 0 || runners.size() < 2) {
      continue;  // not coverable, or one member holds it all (a whole candidate)
    }
    // reboot: every device off, then every device on (Pacemaker's remapping for a level of
    // several devices); off and on: themselves.
    const size_t n = spread.parts.size();
    for (size_t i = 0; i < n; ++i) {
      Part& part = spread.parts[i];
      part.action = op.record.action == FenceAction::kOn ? FenceAction::kOn : FenceAction::kOff;
      if (op.record.action == FenceAction::kReboot) {
        Part on = part;
        on.action = FenceAction::kOn;
        on.tolerated = true;
        spread.parts.push_back(on);
      }
    }
    return spread;
  }
  return Spread{};
}

void FencingCluster::StartPart(Op& op, Now now, ClusterEffects& out) {
  const Part& part = op.parts[op.part];
  ++op.attempt;
  op.phase = Phase::kExecuting;
  op.executor = part.member;
  op.record.delegate = part.node;
  out.effects.push_back(Log(LogLine::kInfo,
                            absl::StrCat(Describe(op.record),
                                         ": ",
                                         FenceActionName(part.action),
                                         " with ",
                                         part.device,
                                         " executes on ",
                                         part.node,
                                         " (attempt ",
                                         op.attempt,
                                         ", level ",
                                         op.spread_level,
                                         ")")));
  if (part.member == self_) {
    RequestFence attempt;
    attempt.id = absl::StrCat(op.record.id, "/", op.attempt);
    attempt.target = op.record.target;
    attempt.action = part.action;
    attempt.origin = op.record.origin;
    attempt.client = op.record.client;
    attempt.timeout = absl::Milliseconds(op.request.timeout_ms);
    attempt.delay = op.part == 0 ? absl::Milliseconds(op.request.delay_ms) : absl::ZeroDuration();
    attempt.allow_self = op.request.allow_self;
    attempt.only_if_lost = op.request.only_if_lost;
    attempt.devices = {part.device};
    attempt.level = op.spread_level;
    FeedCore(std::move(attempt), now, out);
  }
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
  if (op.phase == Phase::kExecuting && op.spread_level != 0) {
    const Part part = op.parts[op.part];
    if (m.state == FenceState::kDone || part.tolerated) {
      if (m.state != FenceState::kDone) {
        out.effects.push_back(Log(LogLine::kWarning,
                                  absl::StrCat("the target ",
                                               op.record.target,
                                               " is off but could not be turned back on with ",
                                               part.device,
                                               " on ",
                                               part.node)));
      }
      if (++op.part < op.parts.size()) {
        StartPart(op, now, out);
        return;
      }
      std::vector<std::string> devices;
      std::vector<std::string> nodes;
      for (const Part& p : op.parts) {
        if (std::find(devices.begin(), devices.end(), p.device) == devices.end()) {
          devices.push_back(p.device);
        }
        if (std::find(nodes.begin(), nodes.end(), p.node) == nodes.end()) {
          nodes.push_back(p.node);
        }
      }
      op.record.delegate = absl::StrJoin(nodes, ",");
      Finish(op,
             FenceState::kDone,
             absl::StrJoin(devices, ","),
             op.spread_level,
             "",
             m.time_ms,
             now,
             out);
      return;
    }
    op.spread_level = 0;
    op.record.device = m.device;
    op.record.level = m.level;
    op.last_reason = m.reason;
    if (Choose(op, now, out)) {
      out.effects.push_back(Log(LogLine::kWarning,
                                absl::StrCat(Describe(op.record),
                                             ": ",
                                             part.device,
                                             " failed on ",
                                             part.node,
                                             " (",
                                             m.reason,
                                             "); falling through")));
      return;
    }
    op.record.delegate = part.node;
    Finish(op, m.state, m.device, m.level, m.reason, m.time_ms, now, out);
    return;
  }
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
  Finish(op, m.state, m.device, m.level, m.reason, m.time_ms, now, out);
}

void FencingCluster::OnExpire(const WireMessage& m, Now now, ClusterEffects& out) {
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
         now,
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
  std::vector<std::string> incarnations;
  if (auto known = known_.find(m.target); known != known_.end()) {
    incarnations.assign(known->second.begin(), known->second.end());
  }
  NoteFencedIncarnations(m.target, incarnations, record, now, out);
  std::vector<std::string> running;
  for (const auto& [id, op] : ops_) {
    if (op.record.target == m.target) {
      running.push_back(id);
    }
  }
  for (const std::string& id : running) {
    Op& op = ops_.at(id);
    Finish(op, FenceState::kDone, kManualAck, 0, "", m.time_ms, now, out);
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
                            Now now,
                            ClusterEffects& out) {
  out.effects.push_back(CancelTimer{TimerKey{kDeadlinePrefix + op.record.id, TimerKey::kDeadline}});
  // Expired, or confirmed by hand, while this node's attempt runs: it must not complete later.
  const bool mine = op.phase == Phase::kExecuting && op.executor == self_;
  const std::string attempt = absl::StrCat(op.record.id, "/", op.attempt);
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
  const std::vector<std::string> incarnations = std::move(op.target_incarnations);
  ops_.erase(record.id);  // `op` is gone from here on
  if (mine) {
    CancelAttempt(
        attempt,
        record.target,
        absl::StrCat("the operation ended (",
                     record.exit_reason.empty() ? FenceStateName(state) : record.exit_reason,
                     ")"),
        Now{absl::InfinitePast(), absl::FromUnixMillis(completed_ms)},
        out);
  }
  if (state == FenceState::kDone) {
    core_.NoteFenced(record.target, record.id, record.completed);
  }
  Record(record);
  Emit(record, out);
  if (state == FenceState::kDone && record.action != FenceAction::kOn) {
    NoteFencedIncarnations(record.target, incarnations, record, now, out);
  }
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
  if (key.op_id == kSyncTimer) {
    if (joined_ && !synced_) {
      out.effects.push_back(
          Log(LogLine::kWarning,
              absl::StrCat("no member of the stonithd group sent its state within ",
                           absl::FormatDuration(SyncWait()),
                           ": going on with this node's own history")));
      synced_ = true;
      synced_members_ = {self_};
      std::vector<Buffered> buffered = std::move(buffer_);
      buffer_.clear();
      Replay(std::move(buffered), now, out);
    }
    return;
  }
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
      m.capable_devices = answer->capable_devices;
      m.degraded = answer->degraded;
      std::vector<std::string> levels;
      for (const auto& [index, devices] : answer->levels) {
        levels.push_back(absl::StrCat(index, "=", absl::StrJoin(devices, "+")));
      }
      m.levels = absl::StrJoin(levels, ";");
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

void FencingCluster::CancelAttempt(const std::string& id,
                                   const std::string& target,
                                   const std::string& reason,
                                   Now now,
                                   ClusterEffects& out) {
  for (const FenceRecord& r : core_.History(target)) {
    if (r.id == id && r.state == FenceState::kPending) {
      FeedCore(CancelOperation{id, reason}, now, out);
      return;
    }
  }
}

void FencingCluster::Send(const WireMessage& m, ClusterEffects& out) {
  WireMessage copy = m;
  copy.incarnation = incarnation_;
  out.multicasts.push_back(EncodeWire(copy));
}

void FencingCluster::Emit(const FenceRecord& record, ClusterEffects& out) {
  out.effects.push_back(OperationChanged{record});
  if (record.state != FenceState::kPending) {
    local_.erase(record.id);
  }
}

}  // namespace ha::stonithd
