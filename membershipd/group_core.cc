#include "membershipd/group_core.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ha::membership {
namespace {

constexpr size_t kMaxGroupName = 128;
// Room for a Frame's fields besides its data (sender, ring id, seqs, tags and the data's length).
constexpr size_t kFrameOverhead = 96;
// Frames of one message beyond this are refused (a sender cannot need more for a Sync or a
// multicast of max_payload; bounds what a peer can make this node buffer).
constexpr uint32_t kMaxFragments = 4096;

absl::Status ValidateGroupName(const std::string& group) {
  if (group.empty() || group.size() > kMaxGroupName) {
    return absl::InvalidArgumentError(
        absl::StrCat("group name of ", group.size(), " bytes: it must have 1 to 128"));
  }
  for (char c : group) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("group name: only printable ASCII is allowed");
    }
  }
  return absl::OkStatus();
}

group_wire::RingId ToWire(const RingId& id) {
  group_wire::RingId out;
  out.set_rep(id.rep);
  out.set_seq(id.seq);
  return out;
}

RingId FromWire(const group_wire::RingId& id) {
  return RingId{id.rep(), id.seq()};
}

std::string RingName(const RingId& id) {
  return absl::StrCat(id.rep, ".", id.seq);
}

}  // namespace

const char* ChangeReasonName(ChangeReason reason) {
  switch (reason) {
    case ChangeReason::kUnspecified:
      return "unspecified";
    case ChangeReason::kJoin:
      return "join";
    case ChangeReason::kLeave:
      return "leave";
    case ChangeReason::kNodeDown:
      return "nodedown";
    case ChangeReason::kNodeUp:
      return "nodeup";
    case ChangeReason::kProcDown:
      return "procdown";
  }
  return "?";
}

GroupCore::GroupCore(GroupOptions options) : options_(std::move(options)) {}

// ---------------------------------------------------------------------------------------------
// Local API
// ---------------------------------------------------------------------------------------------

absl::Status GroupCore::OpenSession(uint64_t session_id,
                                    uint32_t pid,
                                    std::string client_name,
                                    GroupEffects& effects) {
  if (sessions_.count(session_id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("session ", session_id, " is already open"));
  }
  sessions_[session_id] = Session{pid, std::move(client_name)};
  effects.log.push_back(absl::StrCat("session ", session_id, " opened: pid ", pid));
  return absl::OkStatus();
}

absl::Status GroupCore::CloseSession(uint64_t session_id, GroupEffects& effects) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("session ", session_id, " does not exist"));
  }
  const uint32_t pid = it->second.pid;
  sessions_.erase(it);
  for (auto i = intent_.lower_bound({pid, std::string()});
       i != intent_.end() && i->first.first == pid;) {
    if (i->second != session_id) {
      ++i;
      continue;
    }
    group_wire::GroupMessage message;
    group_wire::Leave* leave = message.mutable_leave();
    leave->set_group(i->first.second);
    leave->set_pid(pid);
    leave->set_proc_down(true);
    Enqueue(message, false, effects);
    i = intent_.erase(i);
  }
  effects.log.push_back(absl::StrCat("session ", session_id, " closed: pid ", pid));
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> GroupCore::SessionPid(uint64_t session_id,
                                               const std::string& group) const {
  if (absl::Status status = ValidateGroupName(group); !status.ok()) {
    return status;
  }
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("session ", session_id, " does not exist"));
  }
  return it->second.pid;
}

absl::Status GroupCore::Join(uint64_t session_id, const std::string& group, GroupEffects& effects) {
  absl::StatusOr<uint32_t> pid_or = SessionPid(session_id, group);
  if (!pid_or.ok()) {
    return pid_or.status();
  }
  const uint32_t pid = *pid_or;
  auto [i, inserted] = intent_.emplace(std::make_pair(pid, group), session_id);
  if (!inserted) {
    return absl::AlreadyExistsError(
        i->second == session_id
            ? absl::StrCat("session ", session_id, " is already in group \"", group, "\"")
            : absl::StrCat("process ",
                           pid,
                           " is already in group \"",
                           group,
                           "\" (session ",
                           i->second,
                           ")"));
  }
  group_wire::GroupMessage message;
  group_wire::Join* join = message.mutable_join();
  join->set_group(group);
  join->set_pid(pid);
  join->set_session_id(session_id);
  Enqueue(message, false, effects);
  return absl::OkStatus();
}

absl::Status GroupCore::Leave(uint64_t session_id,
                              const std::string& group,
                              GroupEffects& effects) {
  absl::StatusOr<uint32_t> pid_or = SessionPid(session_id, group);
  if (!pid_or.ok()) {
    return pid_or.status();
  }
  const uint32_t pid = *pid_or;
  auto i = intent_.find(std::make_pair(pid, group));
  if (i == intent_.end() || i->second != session_id) {
    return absl::NotFoundError(
        absl::StrCat("session ", session_id, " is not in group \"", group, "\""));
  }
  intent_.erase(i);
  group_wire::GroupMessage message;
  group_wire::Leave* leave = message.mutable_leave();
  leave->set_group(group);
  leave->set_pid(pid);
  Enqueue(message, false, effects);
  return absl::OkStatus();
}

absl::Status GroupCore::Multicast(uint64_t session_id,
                                  const std::string& group,
                                  std::string payload,
                                  bool safe,
                                  GroupEffects& effects) {
  if (payload.size() > options_.max_payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload of ", payload.size(), " bytes exceeds the limit of ", options_.max_payload));
  }
  absl::StatusOr<uint32_t> pid_or = SessionPid(session_id, group);
  if (!pid_or.ok()) {
    return pid_or.status();
  }
  const uint32_t pid = *pid_or;
  auto i = intent_.find(std::make_pair(pid, group));
  if (i == intent_.end() || i->second != session_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", session_id, " has not joined group \"", group, "\""));
  }
  const size_t payload_bytes = payload.size();
  if (absl::Status status = CheckRoom(payload_bytes); !status.ok()) {
    return status;
  }
  group_wire::GroupMessage message;
  group_wire::Multicast* multicast = message.mutable_multicast();
  multicast->set_group(group);
  multicast->set_pid(pid);
  multicast->set_payload(std::move(payload));
  multicast->set_safe(safe);
  Enqueue(message, safe, effects, payload_bytes);
  return absl::OkStatus();
}

absl::Status GroupCore::CheckRoom(size_t payload_bytes) const {
  if (pending() >= options_.max_pending) {
    return absl::ResourceExhaustedError(
        absl::StrCat(pending(), " messages are waiting for the ring: try again later"));
  }
  // With nothing pending any message fits: a bound below max_payload must not block it forever.
  // (No overflow: payload_bytes is at most max_payload.)
  if (pending_bytes_ > 0 && pending_bytes_ + payload_bytes > options_.max_pending_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(pending_bytes_,
                     " bytes of messages are waiting for the ring, ",
                     payload_bytes,
                     " more would exceed the limit of ",
                     options_.max_pending_bytes,
                     " bytes: try again later"));
  }
  return absl::OkStatus();
}

void GroupCore::Enqueue(const group_wire::GroupMessage& message,
                        bool safe,
                        GroupEffects& effects,
                        size_t payload_bytes) {
  pending_.push_back(Op{message.SerializeAsString(), safe, payload_bytes});
  pending_bytes_ += payload_bytes;
  if (synced_) {
    Flush(effects);
  }
}

void GroupCore::ReleaseDelivered(uint64_t frame_seq) {
  while (!in_flight_.empty() && in_flight_.front().last_frame_seq <= frame_seq) {
    pending_bytes_ -= in_flight_.front().op.payload_bytes;
    in_flight_.pop_front();
  }
}

void GroupCore::Flush(GroupEffects& effects) {
  while (!pending_.empty()) {
    Op op = std::move(pending_.front());
    pending_.pop_front();
    const uint64_t last = SendFrames(op.message, op.safe, effects);
    in_flight_.push_back(InFlight{std::move(op), last});
  }
}

uint64_t GroupCore::SendFrames(const std::string& message, bool safe, GroupEffects& effects) {
  const size_t chunk = options_.max_ring_payload > 2 * kFrameOverhead
                           ? options_.max_ring_payload - kFrameOverhead
                           : kFrameOverhead;
  const size_t fragments = std::max<size_t>(1, (message.size() + chunk - 1) / chunk);
  for (size_t i = 0; i < fragments; ++i) {
    group_wire::Frame frame;
    frame.set_sender(options_.local_id);
    *frame.mutable_ring_id() = ToWire(*ring_);
    frame.set_frame_seq(++frame_seq_);
    frame.set_fragments(static_cast<uint32_t>(fragments));
    frame.set_index(static_cast<uint32_t>(i));
    frame.set_data(message.substr(i * chunk, chunk));
    effects.submit.push_back(RingSend{frame.SerializeAsString(), safe});
  }
  return frame_seq_;
}

// ---------------------------------------------------------------------------------------------
// Ring input
// ---------------------------------------------------------------------------------------------

GroupEffects GroupCore::OnConfigChange(const ConfigChange& change) {
  GroupEffects effects;
  // Rule 5: what this node sent in the previous configuration and did not deliver there.
  counters_.resent += in_flight_.size();
  for (auto it = in_flight_.rbegin(); it != in_flight_.rend(); ++it) {
    pending_.push_front(std::move(it->op));
  }
  in_flight_.clear();
  partials_.clear();  // rule 6
  ring_ = change.ring_id;
  ring_members_ = change.members;
  {
    // Fields are serialized in field number order: sender, ring_id, then the rest (SendFrames).
    group_wire::Frame header;
    header.set_sender(options_.local_id);
    *header.mutable_ring_id() = ToWire(*ring_);
    frame_prefix_ = header.SerializeAsString();
  }
  synced_ = false;
  sync_reports_.clear();

  // The ring change, to every session in a group.
  std::set<uint64_t> in_a_group;
  for (const auto& [key, local] : local_) {
    if (LiveSession(local.session_id) != nullptr) {
      in_a_group.insert(local.session_id);
    }
  }
  for (uint64_t session_id : in_a_group) {
    effects.events.push_back(SessionEvent{
        session_id, RingChange{change.ring_id, change.members, change.joined, change.left}});
  }

  // Rule 3: members on nodes that are not members any more leave at once.
  const std::set<NodeId> members(change.members.begin(), change.members.end());
  size_t removed = 0;
  for (auto it = view_.begin(); it != view_.end();) {
    std::vector<GroupMember> left;
    for (auto m = it->second.begin(); m != it->second.end();) {
      if (members.count(m->node) == 0) {
        left.push_back(GroupMember{m->node, m->pid, ChangeReason::kNodeDown});
        m = it->second.erase(m);
      } else {
        ++m;
      }
    }
    if (!left.empty()) {
      removed += left.size();
      EmitChange(
          GroupChange{
              it->first, MembersOf(it->first), {}, std::move(left), Position{change.ring_id, 0}},
          effects);
    }
    it = it->second.empty() ? view_.erase(it) : std::next(it);
  }

  // Rule 3: this node's Sync for the new configuration.
  group_wire::GroupMessage message;
  group_wire::Sync* sync = message.mutable_sync();
  std::string last_group;
  for (const auto& [key, local] : local_) {
    if (sync->groups_size() == 0 || key.first != last_group) {
      sync->add_groups()->set_group(key.first);
      last_group = key.first;
    }
    sync->mutable_groups(sync->groups_size() - 1)->add_pids(key.second);
  }
  SendFrames(message.SerializeAsString(), false, effects);
  effects.log.push_back(absl::StrCat("configuration ",
                                     RingName(change.ring_id),
                                     ": ",
                                     removed,
                                     " members of departed nodes removed, syncing ",
                                     local_.size(),
                                     " local members, ",
                                     pending_.size(),
                                     " operations waiting"));
  return effects;
}

bool GroupCore::IsStaleFrame(absl::string_view payload) const {
  return ring_.has_value() && !absl::StartsWith(payload, frame_prefix_);
}

GroupEffects GroupCore::OnDelivery(const Delivery& delivery) {
  GroupEffects effects;
  if (!ring_ || delivery.ring_id != *ring_) {
    ++counters_.frames_stale;  // the ring always announces its configuration first
    return effects;
  }
  group_wire::Frame frame;
  if (!frame.ParseFromString(delivery.payload) || frame.sender() != delivery.origin) {
    ++counters_.frames_invalid;
    return effects;
  }
  if (FromWire(frame.ring_id()) != *ring_) {
    ++counters_.frames_stale;  // rule 2
    return effects;
  }
  if (delivery.origin == options_.local_id) {
    ReleaseDelivered(frame.frame_seq());
  }

  // Reassembly (rule 6).
  std::string data;
  if (frame.fragments() <= 1) {
    if (frame.index() != 0) {
      ++counters_.frames_invalid;
      return effects;
    }
    partials_.erase(delivery.origin);
    data = std::move(*frame.mutable_data());
  } else if (frame.index() == 0) {
    if (frame.fragments() > kMaxFragments) {
      ++counters_.frames_invalid;
      partials_.erase(delivery.origin);
      return effects;
    }
    partials_[delivery.origin] = Partial{frame.fragments(), 1, std::move(*frame.mutable_data())};
    return effects;
  } else {
    auto it = partials_.find(delivery.origin);
    if (it == partials_.end() || it->second.fragments != frame.fragments() ||
        it->second.next_index != frame.index()) {
      ++counters_.frames_invalid;
      if (it != partials_.end()) {
        partials_.erase(it);
      }
      return effects;
    }
    it->second.data += frame.data();
    if (++it->second.next_index < it->second.fragments) {
      return effects;
    }
    data = std::move(it->second.data);
    partials_.erase(it);
  }

  group_wire::GroupMessage message;
  if (!message.ParseFromString(data)) {
    ++counters_.frames_invalid;
    return effects;
  }
  Apply(delivery.origin, Position{delivery.ring_id, delivery.seq}, message, effects);
  return effects;
}

void GroupCore::Apply(NodeId origin,
                      const Position& at,
                      const group_wire::GroupMessage& message,
                      GroupEffects& effects) {
  switch (message.body_case()) {
    case group_wire::GroupMessage::kSync:
      ApplySync(origin, at, message.sync(), effects);
      return;
    case group_wire::GroupMessage::kJoin:
      ApplyJoin(origin, at, message.join(), effects);
      return;
    case group_wire::GroupMessage::kLeave:
      ApplyLeave(origin, at, message.leave(), effects);
      return;
    case group_wire::GroupMessage::kMulticast:
      ApplyMulticast(origin, at, message.multicast(), effects);
      return;
    case group_wire::GroupMessage::BODY_NOT_SET:
      break;
  }
  ++counters_.frames_invalid;
}

void GroupCore::ApplySync(NodeId origin,
                          const Position& at,
                          const group_wire::Sync& sync,
                          GroupEffects& effects) {
  if (synced_ || sync_reports_.count(origin) != 0) {
    ++counters_.messages_ignored;  // one Sync per node and configuration
    return;
  }
  Report& report = sync_reports_[origin];
  for (const group_wire::SyncGroup& group : sync.groups()) {
    if (!ValidateGroupName(group.group()).ok()) {
      ++counters_.messages_ignored;
      continue;
    }
    report[group.group()].insert(group.pids().begin(), group.pids().end());
  }
  for (NodeId node : ring_members_) {
    if (sync_reports_.count(node) == 0) {
      return;
    }
  }
  CompleteSync(at, effects);
}

void GroupCore::CompleteSync(const Position& at, GroupEffects& effects) {
  View next;
  for (const auto& [node, report] : sync_reports_) {
    for (const auto& [group, pids] : report) {
      for (uint32_t pid : pids) {
        next[group].insert(Member{node, pid});
      }
    }
  }
  for (auto it = next.begin(); it != next.end();) {
    it = it->second.empty() ? next.erase(it) : std::next(it);
  }
  std::set<std::string, std::less<>> groups;
  for (const auto& [group, members] : view_) {
    groups.insert(group);
  }
  for (const auto& [group, members] : next) {
    groups.insert(group);
  }
  static const std::set<Member> kNone;
  size_t up = 0;
  size_t down = 0;
  std::vector<GroupChange> changes;
  for (const std::string& group : groups) {
    auto old_it = view_.find(group);
    auto new_it = next.find(group);
    const std::set<Member>& before = old_it == view_.end() ? kNone : old_it->second;
    const std::set<Member>& after = new_it == next.end() ? kNone : new_it->second;
    GroupChange change;
    change.group = group;
    change.position = at;
    for (const Member& m : after) {
      if (before.count(m) == 0) {
        change.joined.push_back(GroupMember{m.node, m.pid, ChangeReason::kNodeUp});
      }
    }
    for (const Member& m : before) {
      if (after.count(m) == 0) {
        change.left.push_back(GroupMember{m.node, m.pid, ChangeReason::kNodeDown});
      }
    }
    if (!change.joined.empty() || !change.left.empty()) {
      up += change.joined.size();
      down += change.left.size();
      changes.push_back(std::move(change));
    }
  }
  view_ = std::move(next);
  // The local members are this node's own report: unchanged, unless a member of this node was
  // listed by nobody (it cannot be: this node lists all of them).
  for (auto it = local_.begin(); it != local_.end();) {
    auto g = view_.find(it->first.first);
    const bool kept =
        g != view_.end() && g->second.count(Member{options_.local_id, it->first.second}) != 0;
    it = kept ? std::next(it) : local_.erase(it);
  }
  for (GroupChange& change : changes) {
    change.members = MembersOf(change.group);
    EmitChange(std::move(change), effects);
  }
  synced_ = true;
  sync_reports_.clear();
  ++counters_.syncs_completed;
  effects.log.push_back(absl::StrCat("configuration ",
                                     RingName(at.ring_id),
                                     " synced: ",
                                     view_.size(),
                                     " groups, ",
                                     up,
                                     " members learned, ",
                                     down,
                                     " stale members dropped, sending ",
                                     pending_.size(),
                                     " waiting operations"));
  Flush(effects);
}

void GroupCore::ApplyJoin(NodeId origin,
                          const Position& at,
                          const group_wire::Join& join,
                          GroupEffects& effects) {
  if (!synced_ || !ValidateGroupName(join.group()).ok()) {
    ++counters_.messages_ignored;  // rule 4
    return;
  }
  const Member member{origin, join.pid()};
  auto g = view_.find(join.group());
  if (g != view_.end() && g->second.count(member) != 0) {
    ++counters_.messages_ignored;
    return;
  }
  view_[join.group()].insert(member);
  if (origin == options_.local_id) {
    if (ring_.has_value() && LiveSession(join.session_id()) != nullptr &&
        !InAnyGroup(join.session_id())) {
      effects.events.push_back(SessionEvent{
          join.session_id(), RingChange{*ring_, ring_members_, {}, {}, /*initial=*/true}});
    }
    local_[LocalKey{join.group(), join.pid()}] = LocalMember{join.session_id(), 0};
  }
  EmitChange(GroupChange{join.group(),
                         MembersOf(join.group()),
                         {GroupMember{origin, join.pid(), ChangeReason::kJoin}},
                         {},
                         at},
             effects);
}

void GroupCore::ApplyLeave(NodeId origin,
                           const Position& at,
                           const group_wire::Leave& leave,
                           GroupEffects& effects) {
  auto g = view_.find(leave.group());
  const Member member{origin, leave.pid()};
  if (!synced_ || g == view_.end() || g->second.count(member) == 0) {
    ++counters_.messages_ignored;
    return;
  }
  g->second.erase(member);
  GroupChange change{
      leave.group(),
      MembersOf(leave.group()),
      {},
      {GroupMember{
          origin, leave.pid(), leave.proc_down() ? ChangeReason::kProcDown : ChangeReason::kLeave}},
      at};
  // The leaving session gets the change too (deviation 3): it is still in local_.
  EmitChange(std::move(change), effects);
  if (origin == options_.local_id) {
    local_.erase(LocalKey{leave.group(), leave.pid()});
  }
  if (g->second.empty()) {
    view_.erase(g);
  }
}

void GroupCore::ApplyMulticast(NodeId origin,
                               const Position& at,
                               const group_wire::Multicast& multicast,
                               GroupEffects& effects) {
  auto g = view_.find(multicast.group());
  if (!synced_ || g == view_.end() || g->second.count(Member{origin, multicast.pid()}) == 0) {
    ++counters_.messages_ignored;
    return;
  }
  for (auto it = local_.lower_bound(LocalKey{multicast.group(), 0});
       it != local_.end() && it->first.first == multicast.group();
       ++it) {
    if (LiveSession(it->second.session_id) == nullptr) {
      continue;
    }
    effects.events.push_back(
        SessionEvent{it->second.session_id,
                     GroupMessage{multicast.group(),
                                  origin,
                                  multicast.pid(),
                                  ++it->second.seq,
                                  multicast.payload(),
                                  multicast.safe() ? Ordering::kSafe : Ordering::kAgreed,
                                  at}});
    ++counters_.messages_delivered;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

void GroupCore::EmitChange(GroupChange change, GroupEffects& effects) {
  std::vector<uint64_t> to;
  for (auto it = local_.lower_bound(LocalKey{change.group, 0});
       it != local_.end() && it->first.first == change.group;
       ++it) {
    if (LiveSession(it->second.session_id) != nullptr) {
      to.push_back(it->second.session_id);
    }
  }
  for (size_t i = 0; i < to.size(); ++i) {
    effects.events.push_back(
        SessionEvent{to[i], i + 1 == to.size() ? GroupEvent(std::move(change)) : change});
  }
}

std::vector<GroupMember> GroupCore::MembersOf(const std::string& group) const {
  std::vector<GroupMember> out;
  auto g = view_.find(group);
  if (g != view_.end()) {
    for (const Member& m : g->second) {
      out.push_back(GroupMember{m.node, m.pid, ChangeReason::kUnspecified});
    }
  }
  return out;
}

bool GroupCore::InAnyGroup(uint64_t session_id) const {
  for (const auto& [key, local] : local_) {
    if (local.session_id == session_id)
      return true;
  }
  return false;
}

const GroupCore::Session* GroupCore::LiveSession(uint64_t session_id) const {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::vector<GroupInfo> GroupCore::ListGroups() const {
  std::vector<GroupInfo> out;
  for (const auto& [group, members] : view_) {
    GroupInfo info;
    info.group = group;
    info.members = MembersOf(group);
    for (auto it = local_.lower_bound(LocalKey{group, 0});
         it != local_.end() && it->first.first == group;
         ++it) {
      if (const Session* session = LiveSession(it->second.session_id)) {
        info.local_client_names[it->first.second] = session->client_name;
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace ha::membership
