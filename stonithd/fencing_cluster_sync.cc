// FencingCluster's history and the joining of a member (the group's history and state sent to
// it, see fencing_cluster.h); the rest is in fencing_cluster.cc.
#include <algorithm>
#include <functional>
#include <iterator>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "stonithd/fencing_cluster.h"
#include "stonithd/fencing_cluster_internal.h"

namespace ha::stonithd {

using cluster_internal::kDeadlinePrefix;
using cluster_internal::kSyncTimer;
using cluster_internal::Log;
using cluster_internal::Ms;

namespace {

// The history's order: by completion, then request time, then id; so the history is a function
// of the set of records, whatever order they arrived in.
bool HistoryBefore(const FenceRecord& a, const FenceRecord& b) {
  return std::make_tuple(Ms(a.completed), Ms(a.requested), std::cref(a.id)) <
         std::make_tuple(Ms(b.completed), Ms(b.requested), std::cref(b.id));
}

// Of two versions of one record, the one every member keeps: a final one over a pending one,
// else the greater encoding (any total order does).
bool Preferred(const FenceRecord& a, const FenceRecord& b) {
  const bool a_final = a.state != FenceState::kPending;
  const bool b_final = b.state != FenceState::kPending;
  if (a_final != b_final) {
    return a_final;
  }
  return EncodeRecord(a) > EncodeRecord(b);
}

}  // namespace

bool FencingCluster::Record(FenceRecord record) {
  auto same = std::find_if(
      history_.begin(), history_.end(), [&](const FenceRecord& r) { return r.id == record.id; });
  if (same != history_.end()) {
    if (!Preferred(record, *same)) {
      return false;
    }
    history_.erase(same);
  }
  history_.insert(std::upper_bound(history_.begin(), history_.end(), record, HistoryBefore),
                  std::move(record));
  while (history_.size() > options_.core.max_history) {
    history_.pop_front();
  }
  return true;
}

std::vector<FenceRecord> FencingCluster::History(std::string_view target) const {
  if (options_.standalone) {
    return core_.History(target);
  }
  std::vector<FenceRecord> running;
  for (const auto& [id, op] : ops_)
    running.push_back(op.record);
  return ListHistory(std::move(running), pending_merged_, history_, target);
}

// ---- Joining: the group's history and state ----

absl::Duration FencingCluster::SyncWait() const {
  return options_.answer_slack;
}

void FencingCluster::ResetSync(ClusterEffects& out) {
  if (!buffer_.empty() && !synced_) {
    out.effects.push_back(CancelTimer{TimerKey{kSyncTimer, TimerKey::kDeadline}});
  }
  synced_ = false;
  synced_members_.clear();
  awaiting_.clear();
  buffer_.clear();
}

void FencingCluster::Replay(std::vector<Buffered> buffered, Now now, ClusterEffects& out) {
  for (Buffered& b : buffered) {
    if (!joined_) {
      return;
    }
    if (b.is_view) {
      ProcessView(std::move(b.members), now, out);
    } else {
      ProcessDelivered(b.delivered, now, out);
    }
  }
}

void FencingCluster::SendState(Now now, ClusterEffects& out) {
  WireMessage m;
  m.kind = WireMessage::kHistory;
  m.id = "state";
  m.node = options_.core.local_node;
  m.time_ms = Ms(now.wall);
  m.records.assign(history_.begin(), history_.end());
  for (const auto& [id, op] : ops_) {
    m.ops.push_back(EncodeOp(op));
  }
  for (const auto& [id, record] : pending_merged_) {
    m.merged.push_back(record);
  }
  std::vector<std::string> parts;
  for (const auto& [member, views] : awaiting_) {
    parts.push_back(absl::StrCat(member.node_id, ":", member.pid, ":", views));
  }
  m.sync_for = absl::StrJoin(parts, ",");
  parts.clear();
  for (const GroupMember& member : synced_members_) {
    parts.push_back(absl::StrCat(member.node_id, ":", member.pid));
  }
  m.synced = absl::StrJoin(parts, ",");
  m.known = EncodeIncarnations(known_);
  m.fenced = EncodeIncarnations(fenced_);
  out.effects.push_back(Log(LogLine::kInfo,
                            absl::StrCat("sending the fencing history (",
                                         history_.size(),
                                         " operations, ",
                                         ops_.size(),
                                         " running) to the joining member(s) ",
                                         m.sync_for)));
  Send(m, out);
}

void FencingCluster::OnHistory(const WireMessage& m, ClusterEffects& out) {
  for (const auto& [member, views] : ParseSyncFor(m.sync_for)) {
    awaiting_.erase(member);
    if (view_.count(member) > 0) {
      synced_members_.insert(member);
    }
  }
  int added = 0;
  for (const FenceRecord& record : m.records) {
    if (ops_.count(record.id) > 0 || pending_merged_.count(record.id) > 0) {
      continue;  // running here: this node records its end itself
    }
    if (Record(record)) {
      ++added;
      if (local_.count(record.id) > 0) {
        Emit(record, out);
      }
    }
  }
  if (added > 0) {
    out.effects.push_back(
        Log(LogLine::kInfo,
            absl::StrCat(added, " fencing operation(s) added to the history from ", m.node)));
  }
}

void FencingCluster::InstallState(const WireMessage& m, int views, Now now, ClusterEffects& out) {
  // The state is the sender's right after the `views`-th view since this node's first one: the
  // messages buffered before that view are in it, those after it are replayed.
  size_t at = buffer_.size();
  int seen = -1;
  for (size_t i = 0; i < buffer_.size(); ++i) {
    if (buffer_[i].is_view && ++seen == views) {
      at = i;
      break;
    }
  }
  if (at == buffer_.size()) {
    out.effects.push_back(Log(LogLine::kWarning,
                              absl::StrCat("ignoring the state from ",
                                           m.node,
                                           ": it is for view ",
                                           views,
                                           " and this node saw ",
                                           seen + 1)));
    return;
  }
  std::vector<Op> ops;
  for (const std::string& text : m.ops) {
    absl::StatusOr<Op> op = DecodeOp(text);
    if (!op.ok()) {
      out.effects.push_back(
          Log(LogLine::kWarning,
              absl::StrCat("ignoring the state from ", m.node, ": ", op.status().message())));
      return;
    }
    ops.push_back(*std::move(op));
  }
  out.effects.push_back(CancelTimer{TimerKey{kSyncTimer, TimerKey::kDeadline}});
  view_ = std::set<GroupMember>(buffer_[at].members.begin(), buffer_[at].members.end());
  std::vector<Buffered> rest(std::make_move_iterator(buffer_.begin() + at + 1),
                             std::make_move_iterator(buffer_.end()));
  buffer_.clear();
  synced_ = true;
  synced_members_ = ParseMembers(m.synced);
  for (const auto& [member, n] : ParseSyncFor(m.sync_for)) {
    synced_members_.insert(member);
  }
  awaiting_.clear();
  ops_.clear();
  for (Op& op : ops) {
    const std::string id = op.record.id;
    out.effects.push_back(
        ArmTimer{TimerKey{kDeadlinePrefix + id, TimerKey::kDeadline}, Deadline(op.request)});
    ops_[id] = std::move(op);
  }
  pending_merged_.clear();
  for (const FenceRecord& record : m.merged) {
    pending_merged_[record.id] = record;
  }
  known_ = DecodeIncarnations(m.known);
  fenced_ = DecodeIncarnations(m.fenced);
  std::deque<FenceRecord> mine = std::move(history_);
  history_.clear();
  for (const FenceRecord& record : m.records) {
    Record(record);
  }
  // What this node recorded in an earlier session and the group lacks goes to everyone.
  WireMessage extra;
  extra.kind = WireMessage::kHistory;
  extra.id = "history";
  extra.node = options_.core.local_node;
  extra.time_ms = Ms(now.wall);
  for (const FenceRecord& record : mine) {
    if (ops_.count(record.id) == 0 && pending_merged_.count(record.id) == 0 && Record(record)) {
      extra.records.push_back(record);
    }
  }
  out.effects.push_back(
      Log(LogLine::kNotice,
          absl::StrCat("received the stonithd group's state from ",
                       m.node,
                       ": ",
                       m.records.size(),
                       " finished and ",
                       ops_.size(),
                       " running operation(s)",
                       extra.records.empty() ? "" : "; sending ",
                       extra.records.empty() ? "" : absl::StrCat(extra.records.size()),
                       extra.records.empty() ? "" : " of this node's own")));
  if (!extra.records.empty()) {
    Send(extra, out);
  }
  Replay(std::move(rest), now, out);
}

namespace {

std::string MemberText(const GroupMember& m) {
  return absl::StrCat(m.node_id, ":", m.pid);
}

std::string MembersText(const std::set<GroupMember>& members) {
  std::vector<std::string> parts;
  for (const GroupMember& m : members) {
    parts.push_back(MemberText(m));
  }
  return absl::StrJoin(parts, ",");
}

std::optional<GroupMember> ParseMember(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  GroupMember m;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &m.node_id) ||
      !absl::SimpleAtoi(parts[1], &m.pid)) {
    return std::nullopt;
  }
  return m;
}

}  // namespace

std::set<GroupMember> FencingCluster::ParseMembers(const std::string& text) {
  std::set<GroupMember> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (std::optional<GroupMember> m = ParseMember(part)) {
      out.insert(*m);
    }
  }
  return out;
}

std::map<GroupMember, int> FencingCluster::ParseSyncFor(const std::string& text) {
  std::map<GroupMember, int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(part, ':');
    GroupMember m;
    int views = 0;
    if (fields.size() == 3 && absl::SimpleAtoi(fields[0], &m.node_id) &&
        absl::SimpleAtoi(fields[1], &m.pid) && absl::SimpleAtoi(fields[2], &views)) {
      out[m] = views;
    }
  }
  return out;
}

std::string FencingCluster::EncodeOp(const Op& op) {
  std::vector<std::string> capable;
  for (const auto& [member, candidate] : op.capable) {
    capable.push_back(EncodeFields({{"member", MemberText(member)},
                                    {"node", candidate.node},
                                    {"level", absl::StrCat(candidate.level)},
                                    {"degraded", candidate.degraded ? "1" : "0"}}));
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"record", EncodeRecord(op.record)},
      {"request", EncodeWire(op.request)},
      {"phase", absl::StrCat(static_cast<int>(op.phase))},
      {"waiting", MembersText(op.waiting)},
      {"tried", MembersText(op.tried)},
      {"executor", MemberText(op.executor)},
      {"reporter", MemberText(op.reporter)},
      {"attempt", absl::StrCat(op.attempt)},
      {"last_reason", op.last_reason},
      {"conclude_reason", op.conclude_reason},
      {"merged", absl::StrJoin(op.merged, ",")},
  };
  for (const std::string& c : capable) {
    fields.emplace_back(absl::StrCat("capable", fields.size()), c);
  }
  for (const auto& [member, h] : op.holdings) {
    fields.emplace_back(absl::StrCat("holdings", fields.size()),
                        EncodeFields({{"member", MemberText(member)},
                                      {"node", h.node},
                                      {"devices", absl::StrJoin(h.devices, ",")},
                                      {"levels", h.levels}}));
  }
  for (const Part& p : op.parts) {
    fields.emplace_back(absl::StrCat("part", fields.size()),
                        EncodeFields({{"member", MemberText(p.member)},
                                      {"node", p.node},
                                      {"device", p.device},
                                      {"action", absl::StrCat(static_cast<int>(p.action))},
                                      {"tolerated", p.tolerated ? "1" : "0"}}));
  }
  fields.emplace_back("spread_level", absl::StrCat(op.spread_level));
  fields.emplace_back("spread_part", absl::StrCat(op.part));
  fields.emplace_back("spread_tried", absl::StrJoin(op.spread_tried, ","));
  fields.emplace_back("target_incarnations", absl::StrJoin(op.target_incarnations, ","));
  return EncodeFields(fields);
}

absl::StatusOr<FencingCluster::Op> FencingCluster::DecodeOp(const std::string& text) {
  absl::StatusOr<std::map<std::string, std::string>> fields = DecodeFields(text);
  if (!fields.ok()) {
    return fields.status();
  }
  std::map<std::string, std::string>& f = *fields;
  Op op;
  absl::StatusOr<FenceRecord> record = DecodeRecord(f["record"]);
  absl::StatusOr<WireMessage> request = DecodeWire(f["request"]);
  int phase = 0;
  std::optional<GroupMember> executor = ParseMember(f["executor"]);
  std::optional<GroupMember> reporter = ParseMember(f["reporter"]);
  if (!record.ok() || !request.ok() || !absl::SimpleAtoi(f["phase"], &phase) || phase < 0 ||
      phase > static_cast<int>(Phase::kConcluding) ||
      !absl::SimpleAtoi(f["attempt"], &op.attempt) || !executor || !reporter) {
    return absl::InvalidArgumentError("a running operation with bad fields");
  }
  op.record = *std::move(record);
  op.request = *std::move(request);
  op.phase = static_cast<Phase>(phase);
  op.waiting = ParseMembers(f["waiting"]);
  op.tried = ParseMembers(f["tried"]);
  op.executor = *executor;
  op.reporter = *reporter;
  op.last_reason = f["last_reason"];
  op.conclude_reason = f["conclude_reason"];
  for (absl::string_view id : absl::StrSplit(f["merged"], ',', absl::SkipEmpty())) {
    op.merged.emplace_back(id);
  }
  int part = 0;
  if (!absl::SimpleAtoi(f["spread_level"], &op.spread_level) ||
      !absl::SimpleAtoi(f["spread_part"], &part)) {
    return absl::InvalidArgumentError("a running operation with a bad spread level");
  }
  op.part = static_cast<size_t>(part);
  for (absl::string_view inc : absl::StrSplit(f["target_incarnations"], ',', absl::SkipEmpty())) {
    op.target_incarnations.emplace_back(inc);
  }
  for (absl::string_view level : absl::StrSplit(f["spread_tried"], ',', absl::SkipEmpty())) {
    int index = 0;
    if (absl::SimpleAtoi(level, &index)) {
      op.spread_tried.insert(index);
    }
  }
  // The keys carry their position in the encoding ("part12"), so the parts' order is kept.
  std::map<int, Part> parts;
  for (const auto& [key, value] : f) {
    const bool is_holdings = absl::StartsWith(key, "holdings");
    const bool is_part = absl::StartsWith(key, "part");
    if (!is_holdings && !is_part) {
      continue;
    }
    absl::StatusOr<std::map<std::string, std::string>> c = DecodeFields(value);
    std::optional<GroupMember> member = c.ok() ? ParseMember((*c)["member"]) : std::nullopt;
    if (!member) {
      return absl::InvalidArgumentError("a running operation with a bad member");
    }
    if (is_holdings) {
      Holdings h;
      h.node = (*c)["node"];
      for (absl::string_view d : absl::StrSplit((*c)["devices"], ',', absl::SkipEmpty())) {
        h.devices.emplace_back(d);
      }
      h.levels = (*c)["levels"];
      op.holdings[*member] = std::move(h);
      continue;
    }
    int position = 0;
    int action = 0;
    if (!absl::SimpleAtoi(key.substr(4), &position) || !absl::SimpleAtoi((*c)["action"], &action) ||
        action < 0 || action > 2) {
      return absl::InvalidArgumentError("a running operation with a bad part");
    }
    parts[position] = Part{*member,
                           (*c)["node"],
                           (*c)["device"],
                           static_cast<FenceAction>(action),
                           (*c)["tolerated"] == "1"};
  }
  for (auto& [position, p] : parts) {
    op.parts.push_back(std::move(p));
  }
  for (const auto& [key, value] : f) {
    if (!absl::StartsWith(key, "capable")) {
      continue;
    }
    absl::StatusOr<std::map<std::string, std::string>> c = DecodeFields(value);
    std::optional<GroupMember> member = c.ok() ? ParseMember((*c)["member"]) : std::nullopt;
    int level = 0;
    if (!member || !absl::SimpleAtoi((*c)["level"], &level)) {
      return absl::InvalidArgumentError("a running operation with a bad candidate");
    }
    op.capable[*member] = Candidate{(*c)["node"], level, (*c)["degraded"] == "1"};
  }
  return op;
}

// ---- Fenced incarnations ----

namespace {

constexpr size_t kKnownPerNode = 4;    // incarnations remembered per node
constexpr size_t kFencedPerNode = 16;  // fenced incarnations remembered per node

bool Has(const std::deque<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

void Remember(std::deque<std::string>& list, const std::string& item, size_t limit) {
  if (Has(list, item)) {
    return;
  }
  list.push_back(item);
  while (list.size() > limit) {
    list.pop_front();
  }
}

}  // namespace

bool FencingCluster::Admit(const GroupMember& sender,
                           const WireMessage& m,
                           Now now,
                           ClusterEffects& out) {
  if (refused_.count(sender) > 0) {
    return false;
  }
  if (m.incarnation.empty() || m.node.empty()) {
    return true;  // an older sender: nothing to check
  }
  if (auto fenced = fenced_.find(m.node);
      fenced != fenced_.end() && Has(fenced->second, m.incarnation)) {
    if (sender == self_) {
      StopFenced(FencedSelf{"",
                            "",
                            "",
                            absl::StrCat("this stonithd (incarnation ",
                                         incarnation_,
                                         ") of ",
                                         m.node,
                                         " is recorded as fenced by the stonithd group")},
                 out);
    } else {
      Refuse(sender, m.node, m.incarnation, now, out);
    }
    return false;
  }
  incarnations_[sender] = m.incarnation;
  Remember(known_[m.node], m.incarnation, kKnownPerNode);
  return true;
}

void FencingCluster::OnHello(const GroupMember& sender, const WireMessage& m, ClusterEffects& out) {
  if (view_.count(sender) > 0 && member_names_[sender] != m.node) {
    member_names_[sender] = m.node;
    UpdateCoreMembership();
  }
  out.effects.push_back(Log(LogLine::kDebug,
                            absl::StrCat(m.node,
                                         " is in the stonithd group as ",
                                         sender.node_id,
                                         ":",
                                         sender.pid,
                                         " (incarnation ",
                                         m.incarnation,
                                         ")")));
}

void FencingCluster::OnFenced(const WireMessage& m, ClusterEffects& out) {
  if (m.fenced_incarnation != incarnation_) {
    return;  // another (refused) member is told
  }
  StopFenced(FencedSelf{m.id,
                        m.node,
                        "",
                        absl::StrCat("We were allegedly just fenced: ",
                                     m.node,
                                     " says this node's stonithd (incarnation ",
                                     incarnation_,
                                     ") was fenced (",
                                     m.reason,
                                     ") and refuses it in the stonithd group; stopping this "
                                     "node's whole cluster stack for good (start the stack "
                                     "again to rejoin)")},
             out);
}

void FencingCluster::Refuse(const GroupMember& member,
                            const std::string& node,
                            const std::string& incarnation,
                            Now now,
                            ClusterEffects& out) {
  if (member == self_ || !refused_.insert(member).second) {
    return;
  }
  const bool present = view_.erase(member) > 0;
  if (present && latest_view_size_ > 0) {
    --latest_view_size_;
  }
  out.effects.push_back(
      Log(LogLine::kWarning,
          absl::StrCat("refusing ",
                       node,
                       "'s stonithd ",
                       member.node_id,
                       ":",
                       member.pid,
                       " in the stonithd group: that incarnation (",
                       incarnation,
                       ") was fenced; its messages are ignored until a new stack of ",
                       node,
                       " joins")));
  synced_members_.erase(member);
  awaiting_.erase(member);
  member_names_.erase(member);
  DropGone(now, out);
  UpdateCoreMembership();
  if (!view_.empty() && *view_.begin() == self_) {
    WireMessage m;
    m.kind = WireMessage::kFenced;
    m.id = absl::StrCat("fenced:", node, ":", incarnation);
    m.target = node;
    m.node = options_.core.local_node;
    m.time_ms = Ms(now.wall);
    m.fenced_incarnation = incarnation;
    m.reason = absl::StrCat(node, " was fenced while this stonithd ran");
    for (const FenceRecord& r : history_) {
      if (r.target == node && r.state == FenceState::kDone && r.action != FenceAction::kOn) {
        m.reason = absl::StrCat(FenceActionName(r.action),
                                " by ",
                                r.delegate,
                                " for ",
                                r.client,
                                "@",
                                r.origin,
                                ", op ",
                                r.id);
      }
    }
    Send(m, out);
  }
}

void FencingCluster::NoteFencedIncarnations(const std::string& target,
                                            const std::vector<std::string>& incarnations,
                                            const FenceRecord& record,
                                            Now now,
                                            ClusterEffects& out) {
  if (incarnations.empty()) {
    return;
  }
  std::deque<std::string>& fenced = fenced_[target];
  for (const std::string& incarnation : incarnations) {
    Remember(fenced, incarnation, kFencedPerNode);
  }
  std::vector<std::pair<GroupMember, std::string>> refuse;
  for (const GroupMember& member : view_) {
    auto it = incarnations_.find(member);
    if (member != self_ && it != incarnations_.end() &&
        std::find(incarnations.begin(), incarnations.end(), it->second) != incarnations.end()) {
      refuse.emplace_back(member, it->second);
    }
  }
  for (const auto& [member, incarnation] : refuse) {
    Refuse(member, target, incarnation, now, out);
  }
  if (target == options_.core.local_node &&
      std::find(incarnations.begin(), incarnations.end(), incarnation_) != incarnations.end()) {
    const std::string by = record.delegate.empty() ? "a fence device" : record.delegate;
    StopFenced(FencedSelf{record.id,
                          by,
                          absl::StrCat(record.client, "@", record.origin),
                          absl::StrCat("We were allegedly just fenced by ",
                                       by,
                                       " for ",
                                       record.client,
                                       "@",
                                       record.origin,
                                       "! (",
                                       FenceActionName(record.action),
                                       " of ",
                                       target,
                                       ", op ",
                                       record.id,
                                       ", device ",
                                       record.device,
                                       "); this node is still running: stopping its whole "
                                       "cluster stack for good (start the stack again to "
                                       "rejoin)")},
               out);
  }
}

void FencingCluster::StopFenced(FencedSelf fenced, ClusterEffects& out) {
  if (fenced_self_) {
    return;
  }
  fenced_self_ = true;
  out.effects.push_back(Log(LogLine::kCrit, fenced.why));
  out.fenced_self = std::move(fenced);
}

std::string FencingCluster::EncodeIncarnations(
    const std::map<std::string, std::deque<std::string>>& table) {
  std::vector<std::string> parts;
  for (const auto& [node, incarnations] : table) {
    if (!incarnations.empty()) {
      parts.push_back(absl::StrCat(node, "=", absl::StrJoin(incarnations, "+")));
    }
  }
  return absl::StrJoin(parts, ";");
}

std::map<std::string, std::deque<std::string>> FencingCluster::DecodeIncarnations(
    const std::string& text) {
  std::map<std::string, std::deque<std::string>> out;
  for (absl::string_view part : absl::StrSplit(text, ';', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    for (absl::string_view inc : absl::StrSplit(kv.second, '+', absl::SkipEmpty())) {
      out[kv.first].emplace_back(inc);
    }
  }
  return out;
}

}  // namespace ha::stonithd
