#include "tests/sim/group_sim.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/sim/totem_invariants.h"

namespace ha::sim {

using membership::ChangeReason;
using membership::GroupChange;
using membership::GroupEvent;
using membership::GroupMember;
using membership::GroupMessage;
using membership::Position;

namespace {

std::string PositionName(const Position& p) {
  return absl::StrCat(p.ring_id.rep, ".", p.ring_id.seq, "#", p.ring_seq);
}

std::string MemberName(const GroupMember& m) {
  return absl::StrCat(m.node, "/", m.pid);
}

std::string MembersName(const std::vector<GroupMember>& members) {
  return absl::StrJoin(members, ",", [](std::string* out, const GroupMember& m) {
    absl::StrAppend(
        out,
        MemberName(m),
        m.reason == ChangeReason::kUnspecified ? "" : ":",
        m.reason == ChangeReason::kUnspecified ? "" : membership::ChangeReasonName(m.reason));
  });
}

std::string ViewDigest(const std::vector<membership::GroupInfo>& groups) {
  std::string out;
  for (const auto& g : groups) {
    absl::StrAppend(&out, g.group, "=", MembersName(g.members), ";");
  }
  return out;
}

// The tag a payload starts with ("s<session>.<n>").
std::string TagOf(const std::string& payload) {
  return payload.substr(0, payload.find('|'));
}

std::string StatusCodeName(absl::StatusCode code) {
  return absl::StatusCodeToString(code);
}

}  // namespace

GroupSim::GroupSim(int node_count, uint64_t seed, membership::TotemOptions options)
    : totem_(node_count, seed, options), options_(options) {
  for (NodeId id : totem_.nodes()) {
    cores_[id] =
        std::make_unique<membership::GroupCore>(membership::GroupOptions{id, options_.max_payload});
  }
  totem_.SetObserver(
      [this](NodeId node, const membership::Output& output) { OnOutput(node, output); });
}

void GroupSim::OnOutput(NodeId node, const membership::Output& output) {
  membership::GroupCore& core = *cores_.at(node);
  if (const auto* delivery = std::get_if<membership::Delivery>(&output)) {
    Absorb(node, core.OnDelivery(*delivery));
    if (core.synced()) {
      const Position at{delivery->ring_id, delivery->seq};
      const std::string digest = ViewDigest(core.ListGroups());
      auto [it, inserted] = view_at_.emplace(at, digest);
      if (!inserted && it->second != digest) {
        errors_.push_back(absl::StrCat("node ",
                                       node,
                                       " holds {",
                                       digest,
                                       "} at ",
                                       PositionName(at),
                                       ", another node {",
                                       it->second,
                                       "}"));
      }
    }
  } else {
    Absorb(node, core.OnConfigChange(std::get<membership::ConfigChange>(output)));
    if (drop_stale_frames_) {
      frames_dropped_unsent_ += totem_.DropQueued(
          node, [&core](const std::string& payload) { return core.IsStaleFrame(payload); });
    }
  }
}

uint64_t GroupSim::frames_stale() const {
  uint64_t total = frames_stale_of_killed_;
  for (const auto& [id, core] : cores_) {
    if (core) {
      total += core->counters().frames_stale;
    }
  }
  return total;
}

void GroupSim::Absorb(NodeId node, membership::GroupEffects effects) {
  if (!effects.submit.empty()) {
    std::vector<std::pair<std::string, bool>> payloads;
    for (auto& s : effects.submit) {
      payloads.emplace_back(std::move(s.payload), s.safe);
    }
    const uint64_t refused = totem_.refused_submits();
    totem_.SubmitPayloads(node, std::move(payloads));
    if (totem_.refused_submits() != refused) {
      errors_.push_back(absl::StrCat("node ", node, "'s ring refused a submission"));
    }
  }
  for (auto& e : effects.events) {
    auto it = sessions_.find(e.session_id);
    if (it == sessions_.end() || !it->second.open || it->second.node != node) {
      errors_.push_back(absl::StrCat("node ",
                                     node,
                                     " gave an event to session ",
                                     e.session_id,
                                     ", which is not one of its open sessions"));
      continue;
    }
    it->second.events.push_back(std::move(e.event));
  }
}

void GroupSim::Expect(const char* call,
                      uint64_t session,
                      const absl::Status& got,
                      absl::StatusCode want,
                      const std::string& detail) {
  if (got.code() != want) {
    errors_.push_back(absl::StrCat(call,
                                   " of session ",
                                   session,
                                   " ",
                                   detail,
                                   ": got ",
                                   got.ToString(),
                                   ", the model expects ",
                                   StatusCodeName(want)));
  }
}

SessionRecord* GroupSim::OpenSession(uint64_t session) {
  auto it = sessions_.find(session);
  return it == sessions_.end() || !it->second.open ? nullptr : &it->second;
}

uint64_t GroupSim::Open(NodeId node, uint32_t pid) {
  if (!cores_.at(node)) {
    return 0;
  }
  const uint64_t id = next_session_++;
  SessionRecord record;
  record.id = id;
  record.node = node;
  record.pid = pid != 0 ? pid : next_pid_++;
  sessions_[id] = record;
  membership::GroupEffects effects;
  Expect("open",
         id,
         cores_.at(node)->OpenSession(id, record.pid, absl::StrCat("client", id), effects),
         absl::StatusCode::kOk,
         "");
  Absorb(node, std::move(effects));
  return id;
}

absl::Status GroupSim::Close(uint64_t session) {
  SessionRecord* s = OpenSession(session);
  if (s == nullptr) {
    return absl::NotFoundError("no such open session");
  }
  membership::GroupEffects effects;
  absl::Status status = cores_.at(s->node)->CloseSession(session, effects);
  Expect("close", session, status, absl::StatusCode::kOk, "");
  s->open = false;
  Absorb(s->node, std::move(effects));
  return status;
}

absl::Status GroupSim::Join(uint64_t session, const std::string& group) {
  SessionRecord* s = OpenSession(session);
  if (s == nullptr) {
    return absl::NotFoundError("no such open session");
  }
  absl::StatusCode want = absl::StatusCode::kOk;
  for (const auto& [id, other] : sessions_) {
    if (other.open && other.node == s->node && other.pid == s->pid && other.groups.count(group)) {
      want = absl::StatusCode::kAlreadyExists;
    }
  }
  membership::GroupEffects effects;
  absl::Status status = cores_.at(s->node)->Join(session, group, effects);
  Expect("join", session, status, want, group);
  if (status.ok()) {
    s->groups.insert(group);
  }
  Absorb(s->node, std::move(effects));
  return status;
}

absl::Status GroupSim::Leave(uint64_t session, const std::string& group) {
  SessionRecord* s = OpenSession(session);
  if (s == nullptr) {
    return absl::NotFoundError("no such open session");
  }
  const absl::StatusCode want =
      s->groups.count(group) ? absl::StatusCode::kOk : absl::StatusCode::kNotFound;
  membership::GroupEffects effects;
  absl::Status status = cores_.at(s->node)->Leave(session, group, effects);
  Expect("leave", session, status, want, group);
  if (status.ok()) {
    s->groups.erase(group);
  }
  Absorb(s->node, std::move(effects));
  return status;
}

absl::Status GroupSim::Multicast(uint64_t session,
                                 const std::string& group,
                                 size_t size,
                                 bool safe) {
  SessionRecord* s = OpenSession(session);
  if (s == nullptr) {
    return absl::NotFoundError("no such open session");
  }
  const std::string tag = absl::StrCat("s", session, ".", ++next_tag_);
  std::string payload = absl::StrCat(tag, "|", std::string(size, 'x'));
  membership::GroupEffects effects;
  absl::Status status =
      cores_.at(s->node)->Multicast(session, group, std::move(payload), safe, effects);
  if (status.code() != absl::StatusCode::kResourceExhausted) {
    Expect("multicast",
           session,
           status,
           s->groups.count(group) ? absl::StatusCode::kOk : absl::StatusCode::kFailedPrecondition,
           group);
  }
  if (status.ok()) {
    s->sent[tag] = group;
  }
  Absorb(s->node, std::move(effects));
  return status;
}

void GroupSim::Kill(NodeId node) {
  totem_.Kill(node);
  if (cores_.at(node)) {
    frames_stale_of_killed_ += cores_.at(node)->counters().frames_stale;
  }
  cores_.at(node).reset();
  for (auto& [id, s] : sessions_) {
    if (s.node == node && s.open) {
      s.open = false;
      s.killed = true;
    }
  }
}

void GroupSim::Restart(NodeId node) {
  Kill(node);
  cores_[node] =
      std::make_unique<membership::GroupCore>(membership::GroupOptions{node, options_.max_payload});
  totem_.Restart(node);
}

// ---------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------

namespace {

// One membership of one session in one group: from the change with its own JOIN to the change
// with its own LEAVE (or the end of the record).
struct Membership {
  const SessionRecord* session = nullptr;
  std::string group;
  std::vector<const GroupEvent*> events;  // its changes and messages of the group, in order
  std::string Name() const {
    return absl::StrCat(
        "session ", session->id, " (", session->node, "/", session->pid, ") in ", group);
  }
};

const Position& PositionOf(const GroupEvent& e) {
  if (const auto* m = std::get_if<GroupMessage>(&e)) {
    return m->position;
  }
  return std::get<GroupChange>(e).position;
}

bool SameMember(const GroupMember& a, const GroupMember& b) {
  return a.node == b.node && a.pid == b.pid;
}

bool Contains(const std::vector<GroupMember>& list, NodeId node, uint32_t pid) {
  return std::any_of(list.begin(), list.end(), [&](const GroupMember& m) {
    return m.node == node && m.pid == pid;
  });
}

bool IsSyncChange(const GroupChange& c) {
  auto regular = [](const GroupMember& m) {
    return m.reason == ChangeReason::kJoin || m.reason == ChangeReason::kLeave ||
           m.reason == ChangeReason::kProcDown;
  };
  return std::none_of(c.joined.begin(), c.joined.end(), regular) &&
         std::none_of(c.left.begin(), c.left.end(), regular);
}

// A session's state in one group while checking it.
struct InGroup {
  size_t membership = 0;  // index in the memberships
  std::vector<GroupMember> members;
  uint64_t seq = 0;
  size_t events = 0;                                        // events counted so far
  std::map<std::string, size_t> last_delivered;             // tag -> event count then
  std::map<std::pair<NodeId, uint32_t>, size_t> last_left;  // member -> event count then
};

// Rules 1 to 3 and 6 on one session; appends its memberships.
std::string CheckSession(const SessionRecord& s,
                         const std::map<std::string, const SessionRecord*>& by_tag,
                         std::vector<Membership>& out) {
  std::map<std::string, InGroup> current;
  std::map<std::string, int> own_received;
  const std::string who = absl::StrCat("session ", s.id, " (", s.node, "/", s.pid, ")");
  for (const GroupEvent& e : s.events) {
    if (std::holds_alternative<membership::RingChange>(e)) {
      continue;
    }
    if (const auto* c = std::get_if<GroupChange>(&e)) {
      auto cur = current.find(c->group);
      if (cur == current.end()) {
        bool own_join = false;
        for (const GroupMember& m : c->joined) {
          own_join =
              own_join || (m.node == s.node && m.pid == s.pid && m.reason == ChangeReason::kJoin);
        }
        if (!own_join) {
          return absl::StrCat(who,
                              " got a change of ",
                              c->group,
                              " at ",
                              PositionName(c->position),
                              " before its own join");
        }
        out.push_back(Membership{&s, c->group, {}});
        cur = current.emplace(c->group, InGroup{}).first;
        cur->second.membership = out.size() - 1;
        // Before its join: the members it joins, whom it learns here.
        for (const GroupMember& m : c->members) {
          if (!Contains(c->joined, m.node, m.pid)) {
            cur->second.members.push_back(m);
          }
        }
      }
      InGroup& in = cur->second;
      // members = before + joined - left
      std::vector<GroupMember> expect = in.members;
      for (const GroupMember& m : c->left) {
        auto it = std::find_if(
            expect.begin(), expect.end(), [&](const GroupMember& x) { return SameMember(x, m); });
        if (it == expect.end()) {
          return absl::StrCat(who,
                              ": change of ",
                              c->group,
                              " at ",
                              PositionName(c->position),
                              " has ",
                              MemberName(m),
                              " leave, who was not a member");
        }
        expect.erase(it);
        in.last_left[std::pair(m.node, m.pid)] = ++in.events;
      }
      for (const GroupMember& m : c->joined) {
        if (Contains(expect, m.node, m.pid)) {
          return absl::StrCat(who,
                              ": change of ",
                              c->group,
                              " at ",
                              PositionName(c->position),
                              " has ",
                              MemberName(m),
                              " join, who was a member");
        }
        expect.push_back(GroupMember{m.node, m.pid, ChangeReason::kUnspecified});
      }
      std::sort(expect.begin(), expect.end(), [](const GroupMember& a, const GroupMember& b) {
        return std::pair(a.node, a.pid) < std::pair(b.node, b.pid);
      });
      if (expect != c->members) {
        return absl::StrCat(who,
                            ": change of ",
                            c->group,
                            " at ",
                            PositionName(c->position),
                            " lists members [",
                            MembersName(c->members),
                            "], the previous ones ",
                            "with joined and left make [",
                            MembersName(expect),
                            "]");
      }
      in.members = c->members;
      ++in.events;
      out[in.membership].events.push_back(&e);
      if (Contains(c->left, s.node, s.pid)) {
        for (const GroupMember& m : c->left) {
          if (m.node == s.node && m.pid == s.pid && m.reason != ChangeReason::kLeave) {
            return absl::StrCat(
                who, " left ", c->group, " with reason ", membership::ChangeReasonName(m.reason));
          }
        }
        current.erase(cur);
      } else if (!Contains(c->members, s.node, s.pid)) {
        return absl::StrCat(who,
                            " is not in the members of its change of ",
                            c->group,
                            " at ",
                            PositionName(c->position));
      }
      continue;
    }
    const auto& m = std::get<GroupMessage>(e);
    auto cur = current.find(m.group);
    if (cur == current.end()) {
      return absl::StrCat(who, " got a message of ", m.group, ", which it is not in");
    }
    InGroup& in = cur->second;
    if (m.seq != ++in.seq) {
      return absl::StrCat(who, " got seq ", m.seq, " in ", m.group, " where ", in.seq, " was due");
    }
    const std::string tag = TagOf(m.payload);
    auto sender = by_tag.find(tag);
    if (sender == by_tag.end() || sender->second->node != m.sender_node ||
        sender->second->pid != m.sender_pid || sender->second->sent.at(tag) != m.group) {
      return absl::StrCat(who,
                          " got '",
                          tag,
                          "' in ",
                          m.group,
                          " from ",
                          m.sender_node,
                          "/",
                          m.sender_pid,
                          ", who did not send it there");
    }
    if (sender->second == &s) {
      ++own_received[tag];
    }
    // A payload twice in one membership: only with its sender seen leaving in between.
    auto before = in.last_delivered.find(tag);
    if (before != in.last_delivered.end()) {
      auto left = in.last_left.find(std::pair(m.sender_node, m.sender_pid));
      if (left == in.last_left.end() || left->second < before->second) {
        return absl::StrCat(who,
                            " got '",
                            tag,
                            "' twice in ",
                            m.group,
                            " (the second at ",
                            PositionName(m.position),
                            ")");
      }
    }
    in.last_delivered[tag] = ++in.events;
    out[in.membership].events.push_back(&e);
  }
  if (s.open) {
    for (const auto& [tag, group] : s.sent) {
      if (own_received[tag] != 1) {
        return absl::StrCat(
            who, " got its own '", tag, "' in ", group, " ", own_received[tag], " times");
      }
    }
  }
  return "";
}

// The messages of `m` after its change at index `from` up to its next change (index `next`, or
// events.size()).
std::vector<Position> MessagesAfter(const Membership& m, size_t from, size_t* next) {
  std::vector<Position> out;
  size_t i = from + 1;
  for (; i < m.events.size(); ++i) {
    if (std::holds_alternative<GroupChange>(*m.events[i])) {
      break;
    }
    out.push_back(PositionOf(*m.events[i]));
  }
  *next = i;
  return out;
}

bool IsPrefix(const std::vector<Position>& a, const std::vector<Position>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::string PositionsName(const std::vector<Position>& list) {
  return absl::StrJoin(list, " ", [](std::string* out, const Position& p) {
    absl::StrAppend(out, PositionName(p));
  });
}

// Rule 5 on two memberships of one group.
std::string CheckPair(const Membership& a, const Membership& b) {
  std::map<Position, size_t> b_changes;
  for (size_t i = 0; i < b.events.size(); ++i) {
    if (std::holds_alternative<GroupChange>(*b.events[i])) {
      b_changes[PositionOf(*b.events[i])] = i;
    }
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    if (!std::holds_alternative<GroupChange>(*a.events[i])) {
      continue;
    }
    auto j = b_changes.find(PositionOf(*a.events[i]));
    if (j == b_changes.end()) {
      continue;
    }
    size_t a_next = 0;
    size_t b_next = 0;
    const std::vector<Position> a_msgs = MessagesAfter(a, i, &a_next);
    const std::vector<Position> b_msgs = MessagesAfter(b, j->second, &b_next);
    const bool same_next = a_next < a.events.size() && b_next < b.events.size() &&
                           PositionOf(*a.events[a_next]) == PositionOf(*b.events[b_next]);
    const bool ok =
        same_next ? a_msgs == b_msgs : IsPrefix(a_msgs, b_msgs) || IsPrefix(b_msgs, a_msgs);
    if (!ok) {
      return absl::StrCat("virtual synchrony broken after the change at ",
                          PositionName(PositionOf(*a.events[i])),
                          ": ",
                          a.Name(),
                          " delivered [",
                          PositionsName(a_msgs),
                          "], ",
                          b.Name(),
                          " [",
                          PositionsName(b_msgs),
                          "]",
                          same_next ? " before the same next change" : "");
    }
  }
  return "";
}

}  // namespace

std::string CheckGroupSafety(const GroupSim& sim) {
  if (!sim.errors().empty()) {
    return sim.errors().front();
  }
  std::map<std::string, const SessionRecord*> by_tag;
  for (const auto& [id, s] : sim.sessions()) {
    for (const auto& [tag, group] : s.sent) {
      by_tag[tag] = &s;
    }
  }
  std::vector<Membership> memberships;
  for (const auto& [id, s] : sim.sessions()) {
    if (std::string error = CheckSession(s, by_tag, memberships); !error.empty()) {
      return error;
    }
  }
  // Rule 4.
  std::map<Position, const GroupEvent*> messages;
  std::map<std::pair<std::string, Position>, const GroupChange*> changes;
  for (const Membership& m : memberships) {
    for (const GroupEvent* e : m.events) {
      if (const auto* msg = std::get_if<GroupMessage>(e)) {
        auto [it, inserted] = messages.emplace(msg->position, e);
        const auto& other = std::get<GroupMessage>(*it->second);
        if (!inserted && (other.group != msg->group || other.sender_node != msg->sender_node ||
                          other.sender_pid != msg->sender_pid || other.payload != msg->payload ||
                          other.ordering != msg->ordering)) {
          return absl::StrCat(m.Name(),
                              " got '",
                              TagOf(msg->payload),
                              "' at ",
                              PositionName(msg->position),
                              ", another session '",
                              TagOf(other.payload),
                              "'");
        }
        continue;
      }
      const auto& c = std::get<GroupChange>(*e);
      if (c.position.ring_seq == 0) {
        continue;  // depends on the configuration each node comes from
      }
      auto [it, inserted] = changes.emplace(std::pair(c.group, c.position), &c);
      const GroupChange& other = *it->second;
      const bool same = other.members == c.members &&
                        (IsSyncChange(c) || (other.joined == c.joined && other.left == c.left));
      if (!inserted && !same) {
        return absl::StrCat(m.Name(),
                            " got a change at ",
                            PositionName(c.position),
                            " to [",
                            MembersName(c.members),
                            "] joined [",
                            MembersName(c.joined),
                            "] left [",
                            MembersName(c.left),
                            "], another session to [",
                            MembersName(other.members),
                            "] joined [",
                            MembersName(other.joined),
                            "] left [",
                            MembersName(other.left),
                            "]");
      }
    }
  }
  // Rule 5.
  std::map<std::string, std::vector<const Membership*>> by_group;
  for (const Membership& m : memberships) {
    by_group[m.group].push_back(&m);
  }
  for (const auto& [group, list] : by_group) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        if (std::string error = CheckPair(*list[i], *list[j]); !error.empty()) {
          return error;
        }
      }
    }
  }
  return "";
}

std::string CheckGroupsConverged(const GroupSim& sim) {
  if (std::string error = CheckConverged(sim.totem()); !error.empty()) {
    return error;
  }
  std::map<std::string, std::vector<GroupMember>> expected;
  std::map<NodeId, std::map<std::string, std::map<uint32_t, std::string>>> names;
  for (const auto& [id, s] : sim.sessions()) {
    if (!s.open) {
      continue;
    }
    for (const std::string& g : s.groups) {
      expected[g].push_back(GroupMember{s.node, s.pid, ChangeReason::kUnspecified});
      names[s.node][g][s.pid] = absl::StrCat("client", id);
    }
  }
  for (auto& [g, list] : expected) {
    std::sort(list.begin(), list.end(), [](const GroupMember& a, const GroupMember& b) {
      return std::pair(a.node, a.pid) < std::pair(b.node, b.pid);
    });
  }
  for (NodeId node : sim.totem().AliveNodes()) {
    const membership::GroupCore& core = *sim.core(node);
    if (!core.synced() || core.ring_id() != sim.totem().core(node)->ring_id()) {
      return absl::StrCat("node ", node, " is not synced in the current configuration");
    }
    if (core.pending() != 0) {
      return absl::StrCat("node ", node, " still has ", core.pending(), " operations pending");
    }
    std::map<std::string, std::vector<GroupMember>> got;
    for (const membership::GroupInfo& info : core.ListGroups()) {
      got[info.group] = info.members;
      const auto& want_names = names[node][info.group];
      if (info.local_client_names != want_names) {
        return absl::StrCat("node ",
                            node,
                            " names ",
                            info.local_client_names.size(),
                            " local members of ",
                            info.group,
                            ", its open sessions ",
                            want_names.size());
      }
    }
    if (got != expected) {
      std::string text;
      for (const auto& [g, list] : got) {
        absl::StrAppend(&text, g, "=[", MembersName(list), "] ");
      }
      std::string want;
      for (const auto& [g, list] : expected) {
        absl::StrAppend(&want, g, "=[", MembersName(list), "] ");
      }
      return absl::StrCat("node ", node, " sees ", text, "where the clients asked for ", want);
    }
  }
  return "";
}

}  // namespace ha::sim
