#include "membershipd/rrp.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ha::membership {
namespace {

constexpr size_t kMaxSeen = 4096;       // active mode's duplicate filter, entries
constexpr size_t kMaxWatches = 1024;    // tokens waiting for their copies
constexpr size_t kMaxExpiredKeys = 64;  // expired watches remembered against retransmissions

bool IsToken(const wire::Packet& p) {
  return p.body_case() == wire::Packet::kToken || p.body_case() == wire::Packet::kCommit;
}

}  // namespace

const char* RrpModeName(RrpMode mode) {
  switch (mode) {
    case RrpMode::kNone:
      return "none";
    case RrpMode::kPassive:
      return "passive";
    case RrpMode::kActive:
      return "active";
  }
  return "?";
}

absl::StatusOr<RrpMode> ParseRrpMode(absl::string_view text) {
  if (text == "none")
    return RrpMode::kNone;
  if (text == "passive")
    return RrpMode::kPassive;
  if (text == "active")
    return RrpMode::kActive;
  return absl::InvalidArgumentError(absl::StrCat("bad rrp_mode '", text, "'"));
}

RrpOptions RrpOptionsFromConfig(const config::ClusterConfig& config, NodeId local_node_id) {
  const config::TotemConfig& t = config.totem;
  const size_t n = config.nodes.size();
  RrpOptions o;
  o.mode = ParseRrpMode(t.rrp_mode).value_or(RrpMode::kNone);
  o.local_id = local_node_id;
  // A ring works only if every node has an address on it.
  size_t rings = 8;
  for (const config::NodeConfig& node : config.nodes) {
    o.nodes.push_back(node.nodeid);
    rings = std::min(rings, node.ring_addrs.size());
  }
  if (o.mode == RrpMode::kNone)
    rings = std::min<size_t>(rings, 1);
  if (const config::NodeConfig* self = config.FindNode(local_node_id)) {
    o.ring_addrs.assign(self->ring_addrs.begin(), self->ring_addrs.begin() + rings);
  }
  if (o.ring_addrs.size() < 2)
    o.mode = RrpMode::kNone;
  o.token_expired_timeout = absl::Milliseconds(t.EffectiveRrpTokenExpiredTimeout(n));
  o.problem_count_timeout = absl::Milliseconds(t.rrp_problem_count_timeout);
  o.problem_count_threshold = t.rrp_problem_count_threshold;
  o.problem_count_mcast_threshold = t.EffectiveRrpProblemCountMcastThreshold();
  o.autorecovery_check_timeout = absl::Milliseconds(t.rrp_autorecovery_check_timeout);
  return o;
}

RedundantRings::RedundantRings(RrpOptions options) : options_(std::move(options)) {
  rings_.resize(std::max<size_t>(1, options_.ring_addrs.size()));
  for (size_t i = 0; i < rings_.size(); ++i) {
    rings_[i].address = i < options_.ring_addrs.size() ? options_.ring_addrs[i] : "";
    rings_[i].text = absl::StrCat("ring ", i, " active with no faults");
  }
}

int RedundantRings::problem_count(int ring) const {
  const Ring& r = rings_.at(ring);
  if (options_.mode != RrpMode::kPassive)
    return r.problems;
  uint64_t best = 0;
  for (const Ring& o : rings_) {
    if (o.state == RingState::kActive)
      best = std::max(best, o.token_rx_count);
  }
  return best > r.token_rx_count ? static_cast<int>(best - r.token_rx_count) : 0;
}

std::vector<RingStatus> RedundantRings::Status() const {
  std::vector<RingStatus> out;
  for (size_t i = 0; i < rings_.size(); ++i) {
    const Ring& r = rings_[i];
    RingStatus s;
    s.ring = static_cast<int>(i);
    s.address = r.address;
    s.state = r.state;
    s.problem_count = problem_count(s.ring);
    s.threshold = options_.problem_count_threshold;
    s.text = r.text;
    s.tx = r.tx;
    s.rx = r.rx;
    s.rx_duplicates = r.rx_duplicates;
    s.faulty_marked = r.faulty_marked;
    s.recovered = r.recovered;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<NodeId> RedundantRings::Others() const {
  std::vector<NodeId> out;
  for (NodeId id : options_.nodes) {
    if (id != options_.local_id)
      out.push_back(id);
  }
  return out;
}

int RedundantRings::WorkingRings() const {
  int n = 0;
  for (const Ring& r : rings_) {
    n += r.state == RingState::kActive ? 1 : 0;
  }
  return n;
}

int RedundantRings::NextRing(int& turn) const {
  const int count = ring_count();
  for (int i = 0; i < count; ++i) {
    const int ring = turn;
    turn = (turn + 1) % count;
    if (rings_[ring].state == RingState::kActive)
      return ring;
  }
  return 0;
}

RrpEffects RedundantRings::Take() {
  RrpEffects out = std::move(effects_);
  effects_ = RrpEffects{};
  return out;
}

RrpEffects RedundantRings::Send(absl::Time /*now*/, const std::vector<Outgoing>& out) {
  for (const Outgoing& o : out) {
    if (o.to.empty())
      continue;
    std::vector<int> rings;
    if (options_.mode == RrpMode::kNone) {
      rings.push_back(0);
    } else if (options_.mode == RrpMode::kActive) {
      for (int i = 0; i < ring_count(); ++i) {
        if (rings_[i].state == RingState::kActive)
          rings.push_back(i);
      }
    } else {
      rings.push_back(NextRing(IsToken(o.packet) ? token_turn_ : mcast_turn_));
    }
    for (int ring : rings) {
      rings_[ring].tx += o.to.size();
      effects_.send.push_back(RrpSend{ring, o.to, o.packet});
    }
  }
  return Take();
}

RrpEffects RedundantRings::OnPacket(absl::Time now, int ring, const RingPacket& packet) {
  if (ring < 0 || ring >= ring_count())
    return Take();
  if (const auto* control = std::get_if<RrpControl>(&packet)) {
    HandleControl(now, ring, *control);
  } else {
    HandleTotem(now, ring, std::get<wire::Packet>(packet));
  }
  return Take();
}

void RedundantRings::HandleTotem(absl::Time now, int ring, const wire::Packet& packet) {
  Ring& r = rings_[ring];
  ++r.rx;
  heard_.insert(packet.sender());
  if (options_.mode == RrpMode::kActive) {
    if (IsToken(packet))
      WatchToken(now, ring, packet);
    if (IsDuplicate(now, ring, packet)) {
      ++r.rx_duplicates;
      return;
    }
  } else if (options_.mode == RrpMode::kPassive) {
    PassiveMonitor(now, ring, IsToken(packet));
  }
  effects_.deliver.push_back(packet);
}

bool RedundantRings::IsDuplicate(absl::Time now, int ring, const wire::Packet& packet) {
  while (!seen_order_.empty() && (seen_order_.size() > kMaxSeen ||
                                  now - seen_order_.front().first > options_.duplicate_window)) {
    auto it = seen_.find(seen_order_.front().second);
    if (it != seen_.end() && it->second.first == seen_order_.front().first)
      seen_.erase(it);
    seen_order_.pop_front();
  }
  std::string bytes;
  packet.SerializeToString(&bytes);
  const std::pair<NodeId, size_t> key{packet.sender(), std::hash<std::string>{}(bytes)};
  const uint64_t bit = uint64_t{1} << ring;
  auto it = seen_.find(key);
  if (it != seen_.end() && (it->second.rings & bit) == 0) {
    it->second.rings |= bit;  // the copy on another ring
    return true;
  }
  // New, or sent again on the same ring: a retransmission.
  seen_[key] = Seen{bit, now};
  seen_order_.emplace_back(now, key);
  return false;
}

void RedundantRings::WatchToken(absl::Time now, int ring, const wire::Packet& packet) {
  uint64_t seqid = 0;
  std::string key;
  if (packet.has_token()) {
    const wire::Token& t = packet.token();
    seqid = t.token_seq();
    key =
        absl::StrCat(packet.sender(), "/t/", t.ring_id().rep(), ".", t.ring_id().seq(), "/", seqid);
  } else {
    const wire::CommitToken& c = packet.commit();
    seqid = c.memb_index();
    key =
        absl::StrCat(packet.sender(), "/c/", c.ring_id().rep(), ".", c.ring_id().seq(), "/", seqid);
  }
  for (TokenWatch& w : watches_) {
    if (w.key == key) {
      w.rings.insert(ring);
      return;
    }
  }
  if (std::find(expired_keys_.begin(), expired_keys_.end(), key) != expired_keys_.end())
    return;  // a late copy or a retransmission of a token already judged
  if (watches_.size() >= kMaxWatches)
    watches_.pop_front();
  watches_.push_back(TokenWatch{key, seqid, {ring}, now + options_.token_expired_timeout});
}

void RedundantRings::TokenExpired(const TokenWatch& watch) {
  const int threshold = options_.problem_count_threshold;
  for (int i = 0; i < ring_count(); ++i) {
    Ring& r = rings_[i];
    if (r.state != RingState::kActive || watch.rings.count(i) != 0)
      continue;
    // At most one problem per rrp_token_expired_timeout: a ring is FAULTY after missing tokens
    // for threshold timeouts, however fast the token turns.
    if (r.last_problem && watch.deadline < *r.last_problem + options_.token_expired_timeout)
      continue;
    r.last_problem = watch.deadline;
    if (r.problems < threshold)
      ++r.problems;
    effects_.log.push_back(absl::StrCat("Incrementing problem counter for seqid ",
                                        watch.seqid,
                                        " iface ",
                                        r.address,
                                        " to [",
                                        r.problems,
                                        " of ",
                                        threshold,
                                        "]"));
    if (r.problems >= threshold) {
      MarkFaulty(watch.deadline, i, "the token did not arrive on it");
    } else if (!decrement_at_) {
      decrement_at_ = watch.deadline + options_.problem_count_timeout;
    }
  }
}

void RedundantRings::PassiveMonitor(absl::Time now, int ring, bool token) {
  uint64_t Ring::*count = token ? &Ring::token_rx_count : &Ring::mcast_rx_count;
  ++(rings_[ring].*count);
  uint64_t best = 0;
  for (const Ring& r : rings_) {
    best = std::max(best, r.*count);
  }
  const uint64_t threshold = static_cast<uint64_t>(token ? options_.problem_count_threshold
                                                         : options_.problem_count_mcast_threshold);
  for (int i = 0; i < ring_count(); ++i) {
    if (rings_[i].state == RingState::kActive && best - rings_[i].*count > threshold) {
      MarkFaulty(now, i, token ? "it fell behind on tokens" : "it fell behind on messages");
    }
  }
}

void RedundantRings::MarkFaulty(absl::Time now, int ring, const std::string& why) {
  Ring& r = rings_[ring];
  if (r.state == RingState::kFaulty)
    return;
  if (WorkingRings() <= 1) {
    effects_.log.push_back(absl::StrCat("ringid ",
                                        ring,
                                        " interface ",
                                        r.address,
                                        " has problems (",
                                        why,
                                        ") but is the last one working: kept"));
    return;
  }
  r.state = RingState::kFaulty;
  r.clean_rounds = 0;
  r.replied.clear();
  ++r.faulty_marked;
  r.text = absl::StrCat("Marking ringid ", ring, " interface ", r.address, " FAULTY");
  effects_.log.push_back(r.text);
  effects_.changes.push_back(RingStateChange{ring, r.address, RingState::kFaulty, why});
  if (options_.autorecovery_check_timeout > absl::ZeroDuration() && !recovery_check_at_) {
    recovery_check_at_ = now + options_.autorecovery_check_timeout;
  }
}

void RedundantRings::PutBack(int ring, const std::string& why) {
  Ring& r = rings_[ring];
  if (r.state == RingState::kActive)
    return;
  r.state = RingState::kActive;
  r.problems = 0;
  r.last_problem.reset();
  // Tokens that came while the ring was out of service do not count against it.
  for (TokenWatch& w : watches_)
    w.rings.insert(ring);
  r.clean_rounds = 0;
  r.replied.clear();
  ++r.recovered;
  // Passive: start level with the best ring so the old lag does not count again.
  for (const Ring& o : rings_) {
    r.token_rx_count = std::max(r.token_rx_count, o.token_rx_count);
    r.mcast_rx_count = std::max(r.mcast_rx_count, o.mcast_rx_count);
  }
  r.text = absl::StrCat("ring ", ring, " active with no faults");
  effects_.log.push_back(why);
  effects_.changes.push_back(RingStateChange{ring, r.address, RingState::kActive, why});
}

void RedundantRings::SendActivate(int ring) {
  const std::vector<NodeId> others = Others();
  if (others.empty())
    return;
  for (int i = 0; i < ring_count(); ++i) {
    if (i == ring || rings_[i].state == RingState::kActive) {
      effects_.send.push_back(
          RrpSend{i, others, RrpControl{RrpControl::kActivate, options_.local_id, ring, 0}});
    }
  }
}

void RedundantRings::HandleControl(absl::Time /*now*/, int ring, const RrpControl& control) {
  if (control.ring != ring && control.kind != RrpControl::kActivate)
    return;
  switch (control.kind) {
    case RrpControl::kProbe:
      heard_.insert(control.sender);
      effects_.send.push_back(
          RrpSend{ring,
                  {control.sender},
                  RrpControl{RrpControl::kProbeReply, options_.local_id, ring, control.round}});
      break;
    case RrpControl::kProbeReply: {
      heard_.insert(control.sender);
      Ring& r = rings_[ring];
      if (r.state == RingState::kFaulty && control.round == r.probe_round)
        r.replied.insert(control.sender);
      break;
    }
    case RrpControl::kActivate:
      if (control.ring >= 0 && control.ring < ring_count()) {
        PutBack(control.ring,
                absl::StrCat("ring ",
                             control.ring,
                             " interface ",
                             rings_[control.ring].address,
                             " re-enabled by node ",
                             control.sender));
      }
      break;
  }
}

void RedundantRings::CheckRecovery(absl::Time now) {
  bool any_faulty = false;
  const std::vector<NodeId> others = Others();
  for (int i = 0; i < ring_count(); ++i) {
    Ring& r = rings_[i];
    if (r.state != RingState::kFaulty)
      continue;
    // The previous round was clean if every node heard from since answered it on this ring.
    bool clean = r.probe_round > 0 && !heard_.empty();
    for (NodeId id : heard_) {
      clean = clean && r.replied.count(id) != 0;
    }
    r.clean_rounds = clean ? r.clean_rounds + 1 : 0;
    if (r.clean_rounds >= kCleanRounds) {
      PutBack(i, absl::StrCat("Automatically recovered ring ", i, " interface ", r.address));
      SendActivate(i);
      continue;
    }
    any_faulty = true;
    r.replied.clear();
    ++r.probe_round;
    if (!others.empty()) {
      effects_.send.push_back(
          RrpSend{i, others, RrpControl{RrpControl::kProbe, options_.local_id, i, r.probe_round}});
    }
  }
  heard_.clear();
  recovery_check_at_.reset();
  if (any_faulty)
    recovery_check_at_ = now + options_.autorecovery_check_timeout;
}

void RedundantRings::DecrementProblems(absl::Time now) {
  decrement_at_.reset();
  bool again = false;
  for (Ring& r : rings_) {
    if (r.state != RingState::kActive || r.problems == 0)
      continue;
    --r.problems;
    effects_.log.push_back(absl::StrCat("Decrementing problem counter for iface ",
                                        r.address,
                                        " to [",
                                        r.problems,
                                        " of ",
                                        options_.problem_count_threshold,
                                        "]"));
    again = again || r.problems > 0;
  }
  if (again)
    decrement_at_ = now + options_.problem_count_timeout;
}

RrpEffects RedundantRings::OnTimer(absl::Time now) {
  // Token watches in arrival order: their deadlines are increasing.
  while (!watches_.empty() && watches_.front().deadline <= now) {
    TokenWatch w = std::move(watches_.front());
    watches_.pop_front();
    TokenExpired(w);
    if (expired_keys_.size() >= kMaxExpiredKeys)
      expired_keys_.pop_front();
    expired_keys_.push_back(std::move(w.key));
  }
  if (decrement_at_ && *decrement_at_ <= now)
    DecrementProblems(now);
  if (recovery_check_at_ && *recovery_check_at_ <= now)
    CheckRecovery(now);
  return Take();
}

std::optional<absl::Time> RedundantRings::NextDeadline() const {
  std::optional<absl::Time> next;
  auto consider = [&](std::optional<absl::Time> t) {
    if (t && (!next || *t < *next))
      next = t;
  };
  if (!watches_.empty())
    consider(watches_.front().deadline);
  consider(decrement_at_);
  consider(recovery_check_at_);
  return next;
}

RrpEffects RedundantRings::Reenable(absl::Time /*now*/) {
  for (int i = 0; i < ring_count(); ++i) {
    if (rings_[i].state == RingState::kFaulty) {
      PutBack(
          i,
          absl::StrCat(
              "ring ", i, " interface ", rings_[i].address, " re-enabled by the administrator"));
      SendActivate(i);
    } else {
      rings_[i].problems = 0;
    }
  }
  return Take();
}

}  // namespace ha::membership
