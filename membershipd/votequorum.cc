#include "membershipd/votequorum.h"

#include <syslog.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/membership.pb.h"

namespace ha::membership {
namespace {

uint32_t Saturate32(uint64_t v) {
  return static_cast<uint32_t>(std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

bool Contains(const std::vector<uint32_t>& sorted, uint32_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

vqwire::RingId ToWire(const QuorumRingId& id) {
  vqwire::RingId out;
  out.set_rep(id.rep_node_id);
  out.set_seq(id.seq);
  return out;
}

QuorumRingId FromWire(const vqwire::RingId& id) {
  return QuorumRingId{.rep_node_id = id.rep(), .seq = id.seq()};
}

std::string RingText(const QuorumRingId& id) {
  return absl::StrFormat("%u.%u", id.rep_node_id, id.seq);
}

v1::VoteNodeState ToProto(VoteNodeState state) {
  switch (state) {
    case VoteNodeState::kMember:
      return v1::VOTE_MEMBER;
    case VoteNodeState::kDead:
      return v1::VOTE_DEAD;
    case VoteNodeState::kLeaving:
      return v1::VOTE_LEAVING;
  }
  return v1::VOTE_NODE_STATE_UNSPECIFIED;
}

}  // namespace

void ToProto(const QuorumState& state, v1::QuorumState* out) {
  out->Clear();
  out->set_quorate(state.quorate);
  out->mutable_ring_id()->set_rep_node_id(state.ring_id.rep_node_id);
  out->mutable_ring_id()->set_seq(state.ring_id.seq);
  out->set_expected_votes(state.expected_votes);
  out->set_highest_expected(state.highest_expected);
  out->set_total_votes(state.total_votes);
  out->set_quorum(state.quorum);
  for (const NodeVotes& n : state.nodes) {
    v1::NodeVotes* p = out->add_nodes();
    p->set_node_id(n.node_id);
    p->set_name(n.name);
    p->set_votes(n.votes);
    p->set_expected_votes(n.expected_votes);
    p->set_state(ToProto(n.state));
  }
  v1::QuorumFlags* flags = out->mutable_flags();
  flags->set_two_node(state.flags.two_node);
  flags->set_wait_for_all(state.flags.wait_for_all);
  flags->set_wait_for_all_waiting(state.flags.wait_for_all_waiting);
  flags->set_last_man_standing(state.flags.last_man_standing);
  flags->set_auto_tie_breaker(state.flags.auto_tie_breaker);
  flags->set_allow_downscale(state.flags.allow_downscale);
  out->set_local_node_id(state.local_node_id);
  out->set_provider(state.provider);
  out->set_since_unix_ms(state.since == absl::InfinitePast() ? 0 : absl::ToUnixMillis(state.since));
}

std::string EncodeVoteQuorumMessage(const vqwire::Message& message) {
  return message.SerializeAsString();
}

absl::StatusOr<vqwire::Message> DecodeVoteQuorumMessage(absl::string_view payload) {
  vqwire::Message message;
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("not a votequorum message: it does not parse");
  }
  if (message.body_case() == vqwire::Message::BODY_NOT_SET) {
    return absl::InvalidArgumentError("votequorum message without a body");
  }
  if (message.has_node_info() &&
      static_cast<size_t>(message.node_info().previous_members_size()) > kMaxVoteQuorumMembers) {
    return absl::InvalidArgumentError(absl::StrCat("votequorum node info lists ",
                                                   message.node_info().previous_members_size(),
                                                   " previous members; at most ",
                                                   kMaxVoteQuorumMembers));
  }
  return message;
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

absl::StatusOr<VoteQuorum> VoteQuorum::Create(const config::QuorumConfig& quorum,
                                              const std::vector<config::NodeConfig>& nodelist,
                                              uint32_t local_node_id) {
  if (local_node_id == 0) {
    return absl::InvalidArgumentError("votequorum: the local node id must not be 0");
  }
  if (!quorum.provider.empty() && quorum.provider != kVoteQuorumProvider) {
    return absl::InvalidArgumentError(
        absl::StrCat("votequorum: unknown quorum provider '", quorum.provider, "'"));
  }
  VoteQuorum vq;
  vq.local_id_ = local_node_id;
  Options& o = vq.options_;
  o.enabled = !quorum.provider.empty();

  uint64_t nodelist_votes = 0;
  for (const config::NodeConfig& n : nodelist) {
    Node& node = vq.nodes_[n.nodeid];
    node.name = n.name;
    node.in_nodelist = true;
    node.votes = static_cast<uint32_t>(std::max(n.quorum_votes, 0));
    nodelist_votes += node.votes;
  }
  Node& self = vq.nodes_[local_node_id];  // 1 vote when not in the nodelist
  vq.votes_ = self.votes;

  if (!o.enabled) {
    self.member = true;
    vq.members_ = {local_node_id};
    Effects ignored;
    vq.Recompute(absl::InfinitePast(), ignored);
    return vq;
  }

  o.configured_expected = quorum.expected_votes.has_value()
                              ? static_cast<uint32_t>(std::max(*quorum.expected_votes, 1))
                              : Saturate32(nodelist_votes);
  o.wait_for_all = quorum.EffectiveWaitForAll();
  o.last_man_standing = quorum.last_man_standing;
  o.last_man_standing_window = absl::Milliseconds(quorum.last_man_standing_window);
  o.allow_downscale = quorum.allow_downscale;

  if (quorum.auto_tie_breaker == "1") {
    const std::string& atb = quorum.auto_tie_breaker_node;
    if (atb.empty() || atb == "lowest") {
      o.tie_breaker = TieBreaker::kLowest;
    } else if (atb == "highest") {
      o.tie_breaker = TieBreaker::kHighest;
    } else {
      for (absl::string_view word :
           absl::StrSplit(atb, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
        uint32_t id = 0;
        if (!absl::SimpleAtoi(word, &id) || id == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "votequorum: auto_tie_breaker_node '", atb, "' is not lowest, highest or node ids"));
        }
        o.tie_breaker_list.push_back(id);
      }
      o.tie_breaker = TieBreaker::kList;
    }
  }

  o.two_node = quorum.two_node;
  if (o.two_node && nodelist.size() != 2) {
    o.two_node = false;
    vq.config_notes_.push_back(
        absl::StrCat("two_node is ignored: the nodelist has ", nodelist.size(), " nodes, not 2"));
  }
  if (o.two_node && o.tie_breaker != TieBreaker::kNone) {
    // corosync: two_node decides by a fence race, auto_tie_breaker by node id; they conflict.
    o.two_node = false;
    vq.config_notes_.push_back("two_node is disabled: it is not compatible with auto_tie_breaker");
  }
  if (o.tie_breaker != TieBreaker::kNone && nodelist_votes % 2 == 1 && !o.wait_for_all) {
    // An isolated half + 1 without the tie-breaker node could otherwise win after a restart.
    if (o.last_man_standing) {
      return absl::InvalidArgumentError(
          "votequorum: auto_tie_breaker and last_man_standing in a cluster with an odd number of "
          "votes need wait_for_all (corosync refuses this configuration)");
    }
    o.tie_breaker = TieBreaker::kNone;
    o.tie_breaker_list.clear();
    vq.config_notes_.push_back(
        "auto_tie_breaker is disabled: the cluster has an odd number of votes and wait_for_all is "
        "not set");
  }

  vq.expected_votes_ = o.configured_expected;
  vq.downscale_floor_ = o.configured_expected;
  vq.agreed_expected_ = o.configured_expected;
  vq.wait_for_all_waiting_ = o.wait_for_all;
  self.expected = o.configured_expected;
  self.downscale_floor = o.configured_expected;
  // Before the first configuration this node is alone, counted as corosync counts itself.
  self.member = true;
  self.carried = true;
  vq.members_ = {local_node_id};
  Effects ignored;
  vq.Recompute(absl::InfinitePast(), ignored);
  return vq;
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

VoteQuorum::Effects VoteQuorum::OnConfigChange(const QuorumRingId& ring_id,
                                               std::vector<uint32_t> members,
                                               absl::Time now) {
  Effects fx;
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (!Contains(members, local_id_)) {
    Log(fx,
        LOG_ERR,
        absl::StrFormat("Configuration change without the local node ignored | ring=%s members=%s",
                        RingText(ring_id),
                        absl::StrJoin(members, ",")));
    return fx;
  }
  bool left = false;
  for (uint32_t id : members_) {
    left = left || !Contains(members, id);
  }
  for (auto& [id, node] : nodes_) {
    const bool counted = node.Counted();
    node.member = Contains(members, id);
    node.carried = node.member && counted;
    node.heard = false;
    node.previous_members.clear();
  }
  for (uint32_t id : members) {
    nodes_.try_emplace(id).first->second.member = true;  // a node not in the nodelist: 1 vote
  }
  previous_members_ = std::move(members_);
  members_ = std::move(members);
  ring_id_ = ring_id;
  synced_ = false;
  downscale_pending_ = false;
  agreed_expected_ = expected_votes_;

  if (options_.enabled && options_.last_man_standing && !leaving_ && (left || timer_armed_)) {
    fx.arm_timer = options_.last_man_standing_window;
    timer_armed_ = true;
  }
  Recompute(now, fx);
  if (options_.enabled) {
    fx.multicast.push_back(NodeInfoMessage());
  }
  return fx;
}

VoteQuorum::Effects VoteQuorum::OnMessage(uint32_t sender,
                                          const vqwire::Message& message,
                                          absl::Time now) {
  Effects fx;
  if (!options_.enabled) {
    return fx;
  }
  switch (message.body_case()) {
    case vqwire::Message::kNodeInfo:
      HandleNodeInfo(sender, message.node_info(), fx);
      break;
    case vqwire::Message::kSetExpectedVotes:
      HandleSetExpectedVotes(message.set_expected_votes(), fx);
      break;
    case vqwire::Message::kSetVotes:
      HandleSetVotes(message.set_votes(), fx);
      break;
    case vqwire::Message::kLastManStanding:
      HandleLastManStanding(message.last_man_standing(), fx);
      break;
    case vqwire::Message::BODY_NOT_SET:
      Log(fx, LOG_WARNING, absl::StrFormat("Empty votequorum message ignored | from=%u", sender));
      return fx;
  }
  Recompute(now, fx);
  return fx;
}

VoteQuorum::Effects VoteQuorum::OnTimer(absl::Time /*now*/) {
  Effects fx;
  if (!options_.enabled || !timer_armed_) {
    return fx;
  }
  timer_armed_ = false;
  if (!options_.last_man_standing || leaving_) {
    return fx;
  }
  if (quorate_ && synced_ && total_ < expected_) {
    vqwire::Message m;
    *m.mutable_last_man_standing()->mutable_ring_id() = ToWire(ring_id_);
    fx.multicast.push_back(std::move(m));
    Log(fx,
        LOG_DEBUG,
        absl::StrFormat("last_man_standing window ran out: asking to lower expected votes | "
                        "ring=%s expected=%u total=%u",
                        RingText(ring_id_),
                        expected_,
                        total_));
  }
  return fx;
}

absl::StatusOr<VoteQuorum::Effects> VoteQuorum::SetExpectedVotes(uint32_t expected_votes) const {
  if (!options_.enabled) {
    return absl::FailedPreconditionError("quorum is not configured (no quorum provider)");
  }
  if (expected_votes == 0) {
    return absl::InvalidArgumentError("expected votes must be at least 1");
  }
  if (expected_votes < total_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expected votes %u is below the %u total votes of this partition: they "
                        "may be lowered to the total votes, not below",
                        expected_votes,
                        total_));
  }
  const bool two_node = options_.two_node && CountedMembers() <= 2;
  const uint64_t new_quorum = two_node ? 1 : expected_votes / 2 + 1;
  if (new_quorum > total_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expected votes %u would leave this partition without quorum: it needs "
                        "%u votes and has %u",
                        expected_votes,
                        new_quorum,
                        total_));
  }
  Effects fx;
  vqwire::Message m;
  m.mutable_set_expected_votes()->set_expected_votes(expected_votes);
  *m.mutable_set_expected_votes()->mutable_ring_id() = ToWire(ring_id_);
  fx.multicast.push_back(std::move(m));
  return fx;
}

absl::StatusOr<VoteQuorum::Effects> VoteQuorum::SetVotes(uint32_t node_id, uint32_t votes) const {
  if (!options_.enabled) {
    return absl::FailedPreconditionError("quorum is not configured (no quorum provider)");
  }
  const uint32_t id = node_id == 0 ? local_id_ : node_id;
  if (!nodes_.contains(id)) {
    return absl::NotFoundError(absl::StrFormat(
        "node %u is not known: not in the nodelist and never seen in the ring", id));
  }
  Effects fx;
  vqwire::Message m;
  m.mutable_set_votes()->set_node_id(id);
  m.mutable_set_votes()->set_votes(votes);
  fx.multicast.push_back(std::move(m));
  return fx;
}

VoteQuorum::Effects VoteQuorum::Leave() {
  Effects fx;
  if (!options_.enabled) {
    return fx;
  }
  leaving_ = true;
  fx.multicast.push_back(NodeInfoMessage());
  if (timer_armed_) {
    fx.cancel_timer = true;
    timer_armed_ = false;
  }
  return fx;
}

// ---------------------------------------------------------------------------------------------
// Delivered messages
// ---------------------------------------------------------------------------------------------

void VoteQuorum::HandleNodeInfo(uint32_t sender, const vqwire::NodeInfo& info, Effects& fx) {
  if (info.node_id() != sender) {
    Log(fx,
        LOG_WARNING,
        absl::StrFormat(
            "Node info naming another node ignored | from=%u names=%u", sender, info.node_id()));
    return;
  }
  if (FromWire(info.ring_id()) != ring_id_) {
    // Sent for an earlier configuration: the sender multicasts another one for this one.
    Log(fx,
        LOG_DEBUG,
        absl::StrFormat("Node info of another configuration ignored | from=%u its_ring=%s ring=%s",
                        sender,
                        RingText(FromWire(info.ring_id())),
                        RingText(ring_id_)));
    return;
  }
  auto it = nodes_.find(sender);
  if (it == nodes_.end() || !it->second.member) {
    Log(fx, LOG_WARNING, absl::StrFormat("Node info from a non-member ignored | from=%u", sender));
    return;
  }
  Node& node = it->second;
  node.votes = info.votes();
  node.expected = info.expected_votes();
  node.leaving = info.leaving();
  node.heard = true;
  node.downscale_floor = info.downscale_floor();
  node.previous_members.assign(info.previous_members().begin(), info.previous_members().end());
  std::sort(node.previous_members.begin(), node.previous_members.end());

  const vqwire::Options& theirs = info.options();
  if (theirs.two_node() != options_.two_node || theirs.wait_for_all() != options_.wait_for_all ||
      theirs.last_man_standing() != options_.last_man_standing ||
      theirs.auto_tie_breaker() != (options_.tie_breaker != TieBreaker::kNone) ||
      theirs.allow_downscale() != options_.allow_downscale) {
    Log(fx,
        LOG_WARNING,
        absl::StrFormat("A node runs with other quorum options: they must be the same on every "
                        "node | node=%u",
                        sender));
  }
  if (wait_for_all_waiting_ && !info.wait_for_all_waiting()) {
    wait_for_all_waiting_ = false;
    Log(fx,
        LOG_NOTICE,
        absl::StrFormat("Stopped waiting for all nodes: a member has seen them all | node=%u",
                        sender));
  }
  if (node.leaving) {
    Log(fx, LOG_NOTICE, absl::StrFormat("A node is leaving the cluster cleanly | node=%u", sender));
    downscale_pending_ = downscale_pending_ || options_.allow_downscale;
  }
  synced_ = std::all_of(
      members_.begin(), members_.end(), [this](uint32_t id) { return nodes_.at(id).heard; });
}

void VoteQuorum::HandleSetExpectedVotes(const vqwire::SetExpectedVotes& msg, Effects& fx) {
  const uint32_t value = msg.expected_votes();
  if (value == 0) {
    Log(fx, LOG_WARNING, "Request to set expected votes to 0 ignored");
    return;
  }
  SetAgreedExpected(value);
  // The downscale floor follows (corosync's ev_barrier): allow_downscale goes down to this value.
  downscale_floor_ = value;
  for (auto& [id, node] : nodes_) {
    if (node.heard) {
      node.downscale_floor = value;
    }
  }
  Log(fx,
      LOG_NOTICE,
      absl::StrFormat(
          "Expected votes set by the administrator | expected=%u total=%u", value, total_));
}

void VoteQuorum::HandleSetVotes(const vqwire::SetVotes& msg, Effects& fx) {
  auto it = nodes_.find(msg.node_id());
  if (it == nodes_.end()) {
    Log(fx,
        LOG_DEBUG,
        absl::StrFormat("Votes set for a node unknown here ignored | node=%u", msg.node_id()));
    return;
  }
  it->second.votes = msg.votes();
  if (msg.node_id() == local_id_) {
    votes_ = msg.votes();
  }
  Log(fx,
      LOG_NOTICE,
      absl::StrFormat("Votes of a node set by the administrator | node=%u votes=%u",
                      msg.node_id(),
                      msg.votes()));
}

void VoteQuorum::HandleLastManStanding(const vqwire::LastManStanding& msg, Effects& fx) {
  // Only in the configuration whose window ran out, once every member is counted, and while the
  // partition is quorate: the same test at the same point of the order on every member.
  if (!options_.last_man_standing || FromWire(msg.ring_id()) != ring_id_ || !synced_ || !quorate_ ||
      total_ >= expected_) {
    return;
  }
  Log(fx,
      LOG_NOTICE,
      absl::StrFormat("last_man_standing: expected votes lowered to the total votes | "
                      "expected=%u was=%u",
                      total_,
                      expected_));
  SetAgreedExpected(total_);
}

void VoteQuorum::SetAgreedExpected(uint64_t expected) {
  for (auto& [id, node] : nodes_) {
    if (node.Reporting()) {
      node.expected = Saturate32(expected);
    }
  }
  agreed_expected_ = expected;
  expected_votes_ = expected;
}

// ---------------------------------------------------------------------------------------------
// The vote count
// ---------------------------------------------------------------------------------------------

uint64_t VoteQuorum::TotalVotes() const {
  uint64_t total = 0;
  for (uint32_t id : members_) {
    const Node& node = nodes_.at(id);
    if (node.Counted()) {
      total += node.votes;
    }
  }
  return total;
}

uint64_t VoteQuorum::HighestExpected() const {
  uint64_t highest = 0;
  for (uint32_t id : members_) {
    const Node& node = nodes_.at(id);
    if (node.Reporting()) {
      highest = std::max<uint64_t>(highest, node.expected);
    }
  }
  return highest;
}

size_t VoteQuorum::CountedMembers() const {
  return static_cast<size_t>(std::count_if(
      members_.begin(), members_.end(), [this](uint32_t id) { return nodes_.at(id).Counted(); }));
}

bool VoteQuorum::TieBreakerCounts() const {
  auto counted = [this](uint32_t id) {
    auto it = nodes_.find(id);
    return it != nodes_.end() && it->second.Counted();
  };
  switch (options_.tie_breaker) {
    case TieBreaker::kNone:
      return false;
    case TieBreaker::kLowest:
    case TieBreaker::kHighest: {
      // The lowest or highest node id of the nodelist (deviation 3).
      std::optional<uint32_t> pick;
      for (const auto& [id, node] : nodes_) {
        if (!node.in_nodelist) {
          continue;
        }
        if (!pick || options_.tie_breaker == TieBreaker::kHighest) {
          pick = id;  // nodes_ is ordered: the first is the lowest, the last the highest
        }
      }
      return pick && counted(*pick);
    }
    case TieBreaker::kList: {
      // Who may be in the other half: the members of the configurations the members come from.
      std::vector<uint32_t> before = previous_members_;
      for (uint32_t id : members_) {
        const Node& node = nodes_.at(id);
        before.insert(before.end(), node.previous_members.begin(), node.previous_members.end());
      }
      std::sort(before.begin(), before.end());
      const std::vector<uint32_t>& list = options_.tie_breaker_list;
      for (size_t i = 0; i < list.size(); ++i) {
        if (!counted(list[i])) {
          continue;
        }
        for (size_t j = 0; j < i; ++j) {
          if (Contains(before, list[j])) {
            return false;  // an earlier tie-breaker may be alive in the other half
          }
        }
        return true;
      }
      return false;
    }
  }
  return false;
}

void VoteQuorum::Recompute(absl::Time now, Effects& fx) {
  const bool was_quorate = state_.quorate;
  if (options_.enabled) {
    total_ = TotalVotes();
    expected_ = std::max({agreed_expected_, HighestExpected(), total_});
    if (synced_ && downscale_pending_) {
      // allow_downscale: down to the remaining votes, not below the floor, never up.
      downscale_pending_ = false;
      uint64_t floor = downscale_floor_;
      for (uint32_t id : members_) {
        floor = std::max<uint64_t>(floor, nodes_.at(id).downscale_floor);
      }
      const uint64_t lowered = std::min(expected_, std::max(floor, total_));
      if (lowered < expected_) {
        Log(fx,
            LOG_NOTICE,
            absl::StrFormat("allow_downscale: expected votes lowered after a clean leave | "
                            "expected=%u was=%u",
                            lowered,
                            expected_));
        SetAgreedExpected(lowered);
        expected_ = lowered;
      }
    }
    const bool two_node = options_.two_node && CountedMembers() <= 2;
    quorum_ = two_node ? 1 : expected_ / 2 + 1;
    if (wait_for_all_waiting_ && synced_ && total_ >= expected_) {
      wait_for_all_waiting_ = false;
      Log(fx,
          LOG_NOTICE,
          absl::StrFormat("All nodes seen together: stopped waiting for all | total=%u", total_));
    }
    bool quorate = false;
    if (!wait_for_all_waiting_) {
      quorate = total_ >= quorum_ || (options_.tie_breaker != TieBreaker::kNone &&
                                      2 * total_ == expected_ && TieBreakerCounts());
    }
    quorate_ = quorate;
    if (synced_) {
      agreed_expected_ = expected_;
      expected_votes_ = expected_;
    }
  } else {
    quorate_ = true;  // no quorum provider: always quorate, as corosync without a provider
  }

  QuorumState next = BuildState();
  next.since = state_.since;
  if (next.quorate != was_quorate) {
    next.since = now;
  }
  if (options_.enabled && next.quorate != was_quorate) {
    Log(fx,
        LOG_NOTICE,
        absl::StrFormat("%s | ring=%s total=%u expected=%u quorum=%u",
                        next.quorate ? "This partition has quorum" : "This partition lost quorum",
                        RingText(ring_id_),
                        total_,
                        expected_,
                        quorum_));
  }
  if (!(next == state_)) {
    fx.state_changed = true;
    state_ = std::move(next);
  }
}

QuorumState VoteQuorum::BuildState() const {
  QuorumState s;
  s.quorate = quorate_;
  s.ring_id = ring_id_;
  s.local_node_id = local_id_;
  s.provider = options_.enabled ? kVoteQuorumProvider : "";
  if (options_.enabled) {
    s.expected_votes = Saturate32(expected_);
    s.total_votes = Saturate32(total_);
    s.quorum = Saturate32(quorum_);
    s.flags.two_node = options_.two_node;
    s.flags.wait_for_all = options_.wait_for_all;
    s.flags.wait_for_all_waiting = wait_for_all_waiting_;
    s.flags.last_man_standing = options_.last_man_standing;
    s.flags.auto_tie_breaker = options_.tie_breaker != TieBreaker::kNone;
    s.flags.allow_downscale = options_.allow_downscale;
  }
  for (const auto& [id, node] : nodes_) {
    NodeVotes n;
    n.node_id = id;
    n.name = node.name;
    n.votes = node.votes;
    if (options_.enabled) {
      n.expected_votes = node.expected;
      n.state = node.Counted()                ? VoteNodeState::kMember
                : node.member && node.leaving ? VoteNodeState::kLeaving
                                              : VoteNodeState::kDead;
      if (node.Reporting()) {
        s.highest_expected = std::max(s.highest_expected, node.expected);
      }
    } else {
      n.state = node.member ? VoteNodeState::kMember : VoteNodeState::kDead;
    }
    s.nodes.push_back(std::move(n));
  }
  return s;
}

vqwire::Message VoteQuorum::NodeInfoMessage() const {
  vqwire::Message m;
  vqwire::NodeInfo* info = m.mutable_node_info();
  info->set_node_id(local_id_);
  *info->mutable_ring_id() = ToWire(ring_id_);
  info->set_votes(votes_);
  info->set_expected_votes(Saturate32(expected_votes_));
  info->set_quorate(quorate_);
  info->set_wait_for_all_waiting(wait_for_all_waiting_);
  info->set_leaving(leaving_);
  for (uint32_t id : previous_members_) {
    info->add_previous_members(id);
  }
  info->set_downscale_floor(downscale_floor_);
  vqwire::Options* o = info->mutable_options();
  o->set_two_node(options_.two_node);
  o->set_wait_for_all(options_.wait_for_all);
  o->set_last_man_standing(options_.last_man_standing);
  o->set_auto_tie_breaker(options_.tie_breaker != TieBreaker::kNone);
  o->set_allow_downscale(options_.allow_downscale);
  return m;
}

void VoteQuorum::Log(Effects& fx, int priority, std::string text) const {
  fx.log.push_back(LogLine{.priority = priority, .text = std::move(text)});
}

}  // namespace ha::membership
