#include "membershipd/totem_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ha::membership {
namespace {

constexpr size_t kMaxRtrEntries = 1024;

wire::RingId ToWire(RingId id) {
  wire::RingId w;
  w.set_rep(id.rep);
  w.set_seq(id.seq);
  return w;
}

RingId FromWire(const wire::RingId& w) {
  return RingId{w.rep(), w.seq()};
}

template <typename Container>
std::set<NodeId> ToSet(const Container& c) {
  return std::set<NodeId>(c.begin(), c.end());
}

bool IsSubset(const std::set<NodeId>& a, const std::set<NodeId>& b) {
  return std::includes(b.begin(), b.end(), a.begin(), a.end());
}

std::vector<NodeId> Difference(const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
  std::vector<NodeId> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

bool Contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

bool Expired(const std::optional<absl::Time>& deadline, absl::Time now) {
  return deadline.has_value() && *deadline <= now;
}

}  // namespace

const char* TotemStateName(TotemState state) {
  switch (state) {
    case TotemState::kGather:
      return "gather";
    case TotemState::kCommit:
      return "commit";
    case TotemState::kRecovery:
      return "recovery";
    case TotemState::kOperational:
      return "operational";
  }
  return "?";
}

bool TotemCore::RingLog::Insert(const wire::Message& message) {
  const uint64_t seq = message.seq();
  if (seq <= aru || messages.count(seq) != 0) {
    return false;
  }
  messages.emplace(seq, message);
  high_seq = std::max(high_seq, seq);
  while (messages.count(aru + 1) != 0) {
    ++aru;
  }
  return true;
}

bool TotemCore::RingLog::Has(uint64_t seq) const {
  return messages.count(seq) != 0;
}

namespace {
TotemOptions Normalized(TotemOptions options) {
  options.nodes.push_back(options.local_id);
  std::sort(options.nodes.begin(), options.nodes.end());
  options.nodes.erase(std::unique(options.nodes.begin(), options.nodes.end()), options.nodes.end());
  return options;
}
}  // namespace

TotemCore::TotemCore(TotemOptions options)
    : options_(Normalized(std::move(options))), random_(options_.random_seed) {
  cur_.id = RingId{options_.local_id, 0};
  cur_.members = {options_.local_id};
  max_ring_seq_ = options_.initial_ring_seq;
}

// ---------------------------------------------------------------------------------------------
// Entry points

Effects TotemCore::Start(absl::Time now) {
  if (!started_) {
    started_ = true;
    proc_ = {options_.local_id};
    EnterGather(now, "start");
  }
  return TakeEffects();
}

Effects TotemCore::OnPacket(absl::Time now, const wire::Packet& packet) {
  const NodeId from = packet.sender();
  if (!started_ || stopped_ || from == options_.local_id) {
    return TakeEffects();
  }
  switch (packet.body_case()) {
    case wire::Packet::kToken:
      HandleToken(now, from, packet.token());
      break;
    case wire::Packet::kMessage:
      HandleMessage(now, from, packet.message());
      break;
    case wire::Packet::kJoin:
      HandleJoin(now, from, packet.join());
      break;
    case wire::Packet::kCommit:
      HandleCommit(now, from, packet.commit());
      break;
    case wire::Packet::kMergeDetect:
      HandleMergeDetect(now, from, packet.merge_detect());
      break;
    case wire::Packet::kHoldCancel:
      HandleHoldCancel(now, from);
      break;
    case wire::Packet::kLeave:
      HandleLeave(now, from, packet.leave());
      break;
    case wire::Packet::kRrp:  // the ring layer's (membershipd/rrp.h): never handed up here
    case wire::Packet::BODY_NOT_SET:
      ++counters_.rx_msg_dropped;
      break;
  }
  return TakeEffects();
}

Effects TotemCore::OnPeerUnreachable(absl::Time now, NodeId node) {
  if (!started_ || stopped_ || node == options_.local_id) {
    return TakeEffects();
  }
  // In every state: a member of the view (or of the ring being formed, whose token would stop
  // at it) is failed now, instead of after the token and consensus timeouts.
  if (proc_.count(node) != 0 && fail_.count(node) == 0) {
    ++counters_.peer_unreachable_failed;
    fail_.insert(node);
    EnterGather(now, absl::StrCat("node ", node, " unreachable").c_str());
  }
  return TakeEffects();
}

Effects TotemCore::OnTimer(absl::Time now) {
  if (!started_ || stopped_) {
    return TakeEffects();
  }
  if (Expired(token_retransmit_at_, now)) {
    token_retransmit_at_.reset();
    if (sent_token_) {
      Send({sent_token_->to}, sent_token_->packet);
      ++counters_.orf_token_retx;
      token_retransmit_at_ = now + options_.token_retransmit;
    }
  }
  if (Expired(hold_at_, now)) {
    ReleaseHeldToken(now);
  }
  if (Expired(token_loss_at_, now)) {
    token_loss_at_.reset();
    switch (state_) {
      case TotemState::kOperational:
        ++counters_.operational_token_lost;
        EnterGather(now, "token lost");
        break;
      case TotemState::kCommit:
        ++counters_.commit_token_lost;
        EnterGather(now, "commit token lost");
        break;
      case TotemState::kRecovery:
        ++counters_.recovery_token_lost;
        EnterGather(now, "token lost in recovery");
        break;
      case TotemState::kGather:
        break;
    }
  }
  if (Expired(join_at_, now)) {
    join_at_.reset();
    if (state_ == TotemState::kGather) {
      SendJoin(now);
    }
  }
  if (Expired(consensus_at_, now)) {
    consensus_at_.reset();
    if (state_ == TotemState::kGather) {
      ++counters_.consensus_timeouts;
      for (NodeId id : AgreedMembers()) {
        if (consensus_.count(id) == 0) {
          fail_.insert(id);
        }
      }
      EnterGather(now, "consensus timeout");
    }
  }
  if (Expired(merge_at_, now)) {
    merge_at_.reset();
    if (state_ == TotemState::kOperational && cur_.members.front() == options_.local_id) {
      std::vector<NodeId> outside = Difference(options_.nodes, cur_.members);
      if (!outside.empty()) {
        wire::Packet packet = NewPacket();
        *packet.mutable_merge_detect()->mutable_ring_id() = ToWire(cur_.id);
        Send(outside, std::move(packet));
        ++counters_.memb_merge_detect_tx;
      }
      merge_at_ = now + options_.merge;
    }
  }
  return TakeEffects();
}

std::optional<absl::Time> TotemCore::NextDeadline() const {
  if (!started_ || stopped_) {
    return std::nullopt;
  }
  std::optional<absl::Time> next;
  for (const auto& t :
       {token_retransmit_at_, hold_at_, token_loss_at_, join_at_, consensus_at_, merge_at_}) {
    if (t && (!next || *t < *next)) {
      next = t;
    }
  }
  return next;
}

absl::Status TotemCore::Submit(absl::Time now, std::string payload, bool safe, Effects& effects) {
  if (stopped_) {
    return absl::FailedPreconditionError("the ring was left");
  }
  if (payload.size() > options_.max_payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", payload.size(), " bytes exceeds the limit of ", options_.max_payload));
  }
  if (send_queue_.size() >= options_.max_send_queue) {
    return absl::ResourceExhaustedError("the send queue is full");
  }
  // An empty queue takes any message: a bound below max_payload must not block it forever.
  if (!send_queue_.empty() && send_queue_bytes_ + payload.size() > options_.max_send_queue_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("the send queue is full: ",
                                                     send_queue_bytes_,
                                                     " bytes queued, the limit is ",
                                                     options_.max_send_queue_bytes));
  }
  send_queue_bytes_ += payload.size();
  send_queue_.push_back(Pending{std::move(payload), safe});
  if (state_ == TotemState::kOperational) {
    if (held_token_ && Successor(cur_.members) != options_.local_id) {
      SendOnHeldToken(now);
    } else if (held_token_) {
      held_token_->set_idle_rotations(0);
      ReleaseHeldToken(now);
    } else if (ring_idle_ && !hold_cancel_sent_ && cur_.members.front() != options_.local_id) {
      wire::Packet packet = NewPacket();
      *packet.mutable_hold_cancel()->mutable_ring_id() = ToWire(cur_.id);
      Send({cur_.members.front()}, std::move(packet));
      hold_cancel_sent_ = true;
    }
  }
  Effects out = TakeEffects();
  for (auto& s : out.send) {
    effects.send.push_back(std::move(s));
  }
  for (auto& d : out.deliver) {
    effects.deliver.push_back(std::move(d));
  }
  return absl::OkStatus();
}

size_t TotemCore::DropQueued(absl::FunctionRef<bool(const std::string& payload)> drop) {
  const size_t before = send_queue_.size();
  // remove_if tests each message exactly once, before moving any: count the dropped bytes there.
  send_queue_.erase(std::remove_if(send_queue_.begin(),
                                   send_queue_.end(),
                                   [&](const Pending& p) {
                                     if (!drop(p.payload)) {
                                       return false;
                                     }
                                     send_queue_bytes_ -= p.payload.size();
                                     return true;
                                   }),
                    send_queue_.end());
  const size_t dropped = before - send_queue_.size();
  counters_.send_queue_dropped += dropped;
  return dropped;
}

Effects TotemCore::Leave(absl::Time now) {
  (void)now;
  if (started_ && !stopped_) {
    wire::Packet packet = NewPacket();
    *packet.mutable_leave()->mutable_ring_id() = ToWire(cur_.id);
    Send(OthersOf(options_.nodes), std::move(packet));
    stopped_ = true;
  }
  return TakeEffects();
}

// ---------------------------------------------------------------------------------------------
// State transitions

void TotemCore::EnterGather(absl::Time now, const char* why, bool check_consensus) {
  if (state_ != TotemState::kGather) {
    ++counters_.gather_entered;
    if (gather_since_operational_) {
      ++counters_.continuous_gather;
    }
  }
  gather_since_operational_ = true;
  state_ = TotemState::kGather;
  fail_.erase(options_.local_id);
  proc_.insert(options_.local_id);

  held_token_.reset();
  hold_at_.reset();
  sent_token_.reset();
  token_retransmit_at_.reset();
  token_loss_at_.reset();
  merge_at_.reset();
  commit_.reset();
  commit_last_index_ = 0;
  next_ = RingLog{};
  recovery_queue_.clear();
  recovery_high_ = 0;
  my_fcc_ = 0;
  my_backlog_ = 0;
  have_prev_visit_ = false;
  prev_visit_clean_ = false;
  ring_idle_ = false;

  consensus_.clear();
  consensus_.insert(options_.local_id);
  consensus_at_ = now + options_.consensus;
  effects_.log.push_back(absl::StrCat("entering GATHER: ",
                                      why,
                                      " proc=[",
                                      absl::StrJoin(proc_, ","),
                                      "] fail=[",
                                      absl::StrJoin(fail_, ","),
                                      "]"));
  ScheduleJoin(now);
  if (check_consensus) {
    CheckConsensus(now);
  }
}

void TotemCore::EnterCommit(absl::Time now, const wire::CommitToken& token) {
  state_ = TotemState::kCommit;
  ++counters_.commit_entered;
  consensus_at_.reset();
  join_at_.reset();
  wire::CommitToken ct = token;
  max_ring_seq_ = std::max(max_ring_seq_, ct.ring_id().seq());
  for (auto& info : *ct.mutable_info()) {
    if (info.node_id() == options_.local_id) {
      *info.mutable_old_ring_id() = ToWire(cur_.id);
      info.set_aru(cur_.aru);
      info.set_high_delivered(cur_.high_delivered);
      info.set_high_seq(cur_.high_seq);
      info.set_filled(true);
    }
  }
  ct.set_memb_index(ct.memb_index() + 1);
  commit_ = ct;
  commit_last_index_ = ct.memb_index();
  token_loss_at_ = now + options_.token;
  const std::vector<NodeId> members(ct.members().begin(), ct.members().end());
  effects_.log.push_back(absl::StrCat("entering COMMIT: ring ",
                                      ct.ring_id().rep(),
                                      ".",
                                      ct.ring_id().seq(),
                                      " members=[",
                                      absl::StrJoin(members, ","),
                                      "]"));
  const NodeId next = Successor(members);
  if (next == options_.local_id) {
    EnterRecovery(now, ct);
    return;
  }
  wire::Packet packet = NewPacket();
  *packet.mutable_commit() = std::move(ct);
  ++counters_.memb_commit_token_tx;
  SendTokenLike(now, std::move(packet), next, 0);
}

void TotemCore::EnterRecovery(absl::Time now, const wire::CommitToken& token) {
  state_ = TotemState::kRecovery;
  ++counters_.recovery_entered;
  next_ = RingLog{};
  next_.id = FromWire(token.ring_id());
  next_.members.assign(token.members().begin(), token.members().end());

  // The members that come from my old ring recover its messages among themselves.
  uint64_t low = UINT64_MAX;
  uint64_t high = 0;
  for (const auto& info : token.info()) {
    if (FromWire(info.old_ring_id()) == cur_.id) {
      low = std::min(low, info.aru());
      high = std::max(high, info.high_seq());
    }
  }
  bool someone_misses = false;
  for (const auto& info : token.info()) {
    if (FromWire(info.old_ring_id()) == cur_.id && info.aru() < high) {
      someone_misses = true;
    }
  }
  recovery_high_ = high;
  effects_.log.push_back(absl::StrCat("entering RECOVERY: ring ",
                                      next_.id.rep,
                                      ".",
                                      next_.id.seq,
                                      " old ring ",
                                      cur_.id.rep,
                                      ".",
                                      cur_.id.seq,
                                      " recovering (",
                                      low == UINT64_MAX ? 0 : low,
                                      ", ",
                                      high,
                                      "]",
                                      someone_misses ? "" : " (nothing missing)"));
  recovery_queue_.clear();
  if (someone_misses) {
    for (auto it = cur_.messages.upper_bound(low); it != cur_.messages.end() && it->first <= high;
         ++it) {
      recovery_queue_.push_back(it->second);
    }
  }

  my_fcc_ = 0;
  my_backlog_ = 0;
  have_prev_visit_ = false;
  prev_visit_clean_ = false;
  last_seen_aru_ = 0;
  aru_unchanged_ = 0;
  rep_last_seq_ = 0;
  safe_upto_ = 0;
  held_token_.reset();
  hold_at_.reset();
  token_loss_at_ = now + options_.token;

  wire::CommitToken ct = token;
  ct.set_memb_index(ct.memb_index() + 1);
  commit_ = ct;
  commit_last_index_ = ct.memb_index();
  const NodeId next = Successor(next_.members);
  if (next == options_.local_id) {
    // A ring of one: the commit token's second rotation is already complete.
    sent_token_.reset();
    token_retransmit_at_.reset();
    wire::Token first;
    *first.mutable_ring_id() = ToWire(next_.id);
    ProcessToken(now, std::move(first));
    return;
  }
  wire::Packet packet = NewPacket();
  *packet.mutable_commit() = std::move(ct);
  ++counters_.memb_commit_token_tx;
  SendTokenLike(now, std::move(packet), next, 0);
}

void TotemCore::EnterOperational(absl::Time now) {
  // Deliver what is left of the old ring: the same contiguous run at every member of my group.
  // Before the first ring there was none: every member, this node included, joined.
  const std::vector<NodeId> old_members = cur_.id.seq == 0 ? std::vector<NodeId>{} : cur_.members;
  uint64_t seq = cur_.high_delivered + 1;
  for (; seq <= recovery_high_; ++seq) {
    auto it = cur_.messages.find(seq);
    if (it == cur_.messages.end()) {
      break;
    }
    cur_.high_delivered = seq;
    if (!it->second.has_recovered()) {
      effects_.deliver.push_back(
          Delivery{cur_.id, seq, it->second.origin(), it->second.safe(), it->second.payload()});
      ++counters_.delivered;
    }
  }
  for (auto it = cur_.messages.upper_bound(cur_.high_delivered); it != cur_.messages.end(); ++it) {
    ++counters_.old_ring_discarded;
  }

  cur_ = std::move(next_);
  next_ = RingLog{};
  state_ = TotemState::kOperational;
  effects_.log.push_back(absl::StrCat("entering OPERATIONAL: ring ",
                                      cur_.id.rep,
                                      ".",
                                      cur_.id.seq,
                                      " members=[",
                                      absl::StrJoin(cur_.members, ","),
                                      "]"));
  ++counters_.operational_entered;
  gather_since_operational_ = false;
  effects_.deliver.push_back(ConfigChange{cur_.id,
                                          cur_.members,
                                          Difference(cur_.members, old_members),
                                          Difference(old_members, cur_.members)});
  DeliverReady(cur_);  // the recovery carriers: nothing to hand up

  proc_ = ToSet(cur_.members);
  fail_.clear();
  consensus_.clear();
  join_ring_seq_.clear();
  commit_.reset();
  recovery_queue_.clear();
  recovery_high_ = 0;
  consensus_at_.reset();
  join_at_.reset();
  merge_at_.reset();
  if (cur_.members.front() == options_.local_id) {
    merge_at_ = now + options_.merge;
  }
}

// ---------------------------------------------------------------------------------------------
// Packet handlers

void TotemCore::HandleToken(absl::Time now, NodeId from, const wire::Token& token) {
  (void)from;
  RingLog* log = nullptr;
  const RingId id = FromWire(token.ring_id());
  if (state_ == TotemState::kOperational && id == cur_.id) {
    log = &cur_;
  } else if (state_ == TotemState::kRecovery && id == next_.id) {
    log = &next_;
  }
  if (log == nullptr || token.token_seq() <= log->last_token_seq) {
    ++counters_.rx_msg_dropped;
    return;
  }
  log->last_token_seq = token.token_seq();
  ++counters_.orf_token_rx;
  held_token_.reset();
  hold_at_.reset();
  ProcessToken(now, token);
}

void TotemCore::HandleMessage(absl::Time now, NodeId from, const wire::Message& message) {
  (void)from;
  const RingId id = FromWire(message.ring_id());
  RingLog* log = nullptr;
  if (id == cur_.id && (state_ == TotemState::kOperational || state_ == TotemState::kGather)) {
    // In commit and recovery the old ring is frozen: what this node brings was written into the
    // commit token, and only recovery carriers may add to it.
    log = &cur_;
  } else if (state_ == TotemState::kRecovery && id == next_.id) {
    log = &next_;
  }
  if (log == nullptr) {
    ++counters_.rx_msg_dropped;
    return;
  }
  ++counters_.mcast_rx;
  if (sent_token_ && sent_token_->packet.has_token() &&
      message.seq() > sent_token_->ring_seq_or_msg_seq) {
    // Someone after me multicast: the token I passed went on.
    sent_token_.reset();
    token_retransmit_at_.reset();
  }
  const bool new_seq = message.seq() > log->high_seq;
  if (!log->Insert(message)) {
    return;
  }
  if (new_seq && state_ != TotemState::kGather) {
    token_loss_at_ = now + options_.token;  // deviation 6: the token just moved
  }
  if (log == &next_ && message.has_recovered() &&
      FromWire(message.recovered().ring_id()) == cur_.id) {
    cur_.Insert(message.recovered());
  }
  if (state_ == TotemState::kOperational) {
    DeliverReady(cur_);
  }
}

bool TotemCore::JoinIsStale(const wire::Join& join, NodeId from) const {
  // A join sent before its sender installed a ring I know it installed: it had not seen that
  // ring's seq yet, so it speaks of a view it left since (a restarted node comes back with its
  // persisted ring seq, so it is not stale). I know it for the members of my last ring, and, while
  // a ring forms, for every member that wrote its old ring into the commit token.
  if (Contains(cur_.members, from) && join.ring_seq() < cur_.id.seq) {
    return true;
  }
  if (state_ != TotemState::kOperational) {
    // Overtaken by a later join of the same sender (since this node left operational).
    auto it = join_ring_seq_.find(from);
    if (it != join_ring_seq_.end() && join.ring_seq() < it->second) {
      return true;
    }
  }
  if ((state_ == TotemState::kCommit || state_ == TotemState::kRecovery) && commit_) {
    for (const auto& info : commit_->info()) {
      if (info.node_id() == from && info.filled() && join.ring_seq() < info.old_ring_id().seq()) {
        return true;
      }
    }
  }
  return false;
}

void TotemCore::HandleJoin(absl::Time now, NodeId from, const wire::Join& join) {
  ++counters_.memb_join_rx;
  max_ring_seq_ = std::max(max_ring_seq_, join.ring_seq());
  const std::set<NodeId> join_proc = ToSet(join.proc());
  const std::set<NodeId> join_fail = ToSet(join.fail());
  if (JoinIsStale(join, from)) {
    // Delayed from an older gather: in gather it would bring back a view since left (failing
    // nodes that are fine), while a ring forms it would abort it.
    ++counters_.join_stale;
    ++counters_.rx_msg_dropped;
    return;
  }
  if (state_ != TotemState::kOperational) {
    uint64_t& seen = join_ring_seq_[from];
    seen = std::max(seen, join.ring_seq());
  }

  if (state_ == TotemState::kCommit || state_ == TotemState::kRecovery) {
    const uint64_t forming_seq = commit_ ? commit_->ring_id().seq() : next_.id.seq;
    const std::vector<NodeId> agreed = AgreedMembers();
    const bool fresh = join.ring_seq() >= forming_seq ||
                       !(IsSubset(join_proc, proc_) && IsSubset(join_fail, fail_));
    if (!Contains(agreed, from) || !fresh) {
      ++counters_.rx_msg_dropped;
      return;
    }
    // A member of the forming ring changed its mind: form again.
    ++counters_.formation_aborted;
    EnterGather(
        now,
        absl::StrCat("join while forming from node ",
                     from,
                     join.ring_seq() >= forming_seq ? " (after the commit token)" : " (a new view)")
            .c_str(),
        false);
  } else if (state_ == TotemState::kOperational) {
    if (!Contains(cur_.members, from) && join_fail.count(options_.local_id) != 0) {
      // A gather elsewhere that excluded this ring: let it finish; its ring and this one merge
      // afterwards from fresh views. Following it now would exclude it in turn, and the two
      // sides could go on failing each other round after round.
      ++counters_.rx_msg_dropped;
      return;
    }
    EnterGather(now, "join while operational", false);
  }

  // Gather: Totem's join processing.
  if (join_proc == proc_ && join_fail == fail_) {
    consensus_.insert(from);
    CheckConsensus(now);
    return;
  }
  if (IsSubset(join_proc, proc_) && IsSubset(join_fail, fail_)) {
    CheckConsensus(now);
    return;  // the sender is behind; it learns from my joins
  }
  if (fail_.count(from) != 0) {
    CheckConsensus(now);
    return;
  }
  proc_.insert(join_proc.begin(), join_proc.end());
  if (join_fail.count(options_.local_id) != 0) {
    // It believes I failed: we cannot be in one ring now; partitions merge later.
    fail_.insert(from);
  } else {
    fail_.insert(join_fail.begin(), join_fail.end());
  }
  EnterGather(now, "join changed the view");
}

void TotemCore::HandleCommit(absl::Time now, NodeId from, const wire::CommitToken& token) {
  (void)from;
  const RingId id = FromWire(token.ring_id());
  const std::vector<NodeId> members(token.members().begin(), token.members().end());
  if (state_ == TotemState::kGather) {
    // The first rotation reaches me: join if it is the ring I agreed to.
    if (id.seq <= cur_.id.seq || members != AgreedMembers()) {
      ++counters_.rx_msg_dropped;
      return;
    }
    for (const auto& info : token.info()) {
      if (info.node_id() == options_.local_id && info.filled()) {
        ++counters_.rx_msg_dropped;
        return;
      }
    }
    EnterCommit(now, token);
    return;
  }
  const bool same_ring = commit_ && FromWire(commit_->ring_id()) == id;
  if (!same_ring || token.memb_index() <= commit_last_index_) {
    ++counters_.rx_msg_dropped;
    return;
  }
  sent_token_.reset();
  token_retransmit_at_.reset();
  if (state_ == TotemState::kCommit) {
    for (const auto& info : token.info()) {
      if (!info.filled()) {
        ++counters_.rx_msg_dropped;
        return;
      }
    }
    EnterRecovery(now, token);
    return;
  }
  if (state_ == TotemState::kRecovery && members.front() == options_.local_id) {
    // The second rotation is back at the representative: the new ring's token starts here.
    commit_last_index_ = token.memb_index();
    wire::Token first;
    *first.mutable_ring_id() = ToWire(next_.id);
    ProcessToken(now, std::move(first));
    return;
  }
  ++counters_.rx_msg_dropped;
}

void TotemCore::HandleMergeDetect(absl::Time now, NodeId from, const wire::MergeDetect& merge) {
  if (FromWire(merge.ring_id()) == cur_.id) {
    return;
  }
  if (state_ == TotemState::kOperational) {
    if (Contains(cur_.members, from)) {
      return;  // delayed, from before this ring formed
    }
    proc_.insert(from);
    EnterGather(now, "merge detected");
  } else if (state_ == TotemState::kGather && proc_.count(from) == 0 && fail_.count(from) == 0) {
    proc_.insert(from);
    EnterGather(now, "merge detected");
  }
}

void TotemCore::HandleHoldCancel(absl::Time now, NodeId from) {
  (void)from;
  if (state_ == TotemState::kOperational && held_token_) {
    held_token_->set_idle_rotations(0);
    ReleaseHeldToken(now);
  }
}

void TotemCore::HandleLeave(absl::Time now, NodeId from, const wire::Leave& leave) {
  if (FromWire(leave.ring_id()).seq < cur_.id.seq) {
    return;  // sent before this ring formed: perhaps by an earlier run of a node now back
  }
  const bool known = proc_.count(from) != 0 || Contains(cur_.members, from);
  if (!known || fail_.count(from) != 0) {
    return;
  }
  fail_.insert(from);
  EnterGather(now, "member left");
}

// ---------------------------------------------------------------------------------------------
// Gather

void TotemCore::ScheduleJoin(absl::Time now) {
  if (options_.send_join > absl::ZeroDuration()) {
    const int64_t range = absl::ToInt64Microseconds(options_.send_join);
    std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(range - 1, 0));
    join_at_ = now + absl::Microseconds(pick(random_));
    return;
  }
  SendJoin(now);
}

void TotemCore::SendJoin(absl::Time now) {
  wire::Packet packet = NewPacket();
  wire::Join* join = packet.mutable_join();
  for (NodeId id : proc_) {
    join->add_proc(id);
  }
  for (NodeId id : fail_) {
    join->add_fail(id);
  }
  join->set_ring_seq(max_ring_seq_);
  *join->mutable_ring_id() = ToWire(cur_.id);
  Send(OthersOf(options_.nodes), std::move(packet));
  ++counters_.memb_join_tx;
  join_at_ = now + options_.join;
}

std::vector<NodeId> TotemCore::AgreedMembers() const {
  std::vector<NodeId> out;
  std::set_difference(
      proc_.begin(), proc_.end(), fail_.begin(), fail_.end(), std::back_inserter(out));
  return out;
}

void TotemCore::CheckConsensus(absl::Time now) {
  if (state_ != TotemState::kGather) {
    return;
  }
  const std::vector<NodeId> agreed = AgreedMembers();
  for (NodeId id : agreed) {
    if (consensus_.count(id) == 0) {
      return;
    }
  }
  if (agreed.empty() || agreed.front() != options_.local_id) {
    return;  // the representative sends the commit token
  }
  wire::CommitToken token;
  *token.mutable_ring_id() = ToWire(RingId{options_.local_id, max_ring_seq_ + 1});
  for (NodeId id : agreed) {
    token.add_members(id);
    token.add_info()->set_node_id(id);
  }
  EnterCommit(now, token);
}

// ---------------------------------------------------------------------------------------------
// The token

void TotemCore::ProcessToken(absl::Time now, wire::Token token) {
  const bool recovery = state_ == TotemState::kRecovery;
  RingLog& log = ActiveLog();
  token_loss_at_ = now + options_.token;
  sent_token_.reset();
  token_retransmit_at_.reset();
  hold_cancel_sent_ = false;

  // Retransmit what others asked for and I have; ask for what I miss.
  std::vector<uint64_t> still_missing;
  for (uint64_t seq : token.rtr()) {
    auto it = log.messages.find(seq);
    if (it != log.messages.end()) {
      wire::Packet packet = NewPacket();
      *packet.mutable_message() = it->second;
      Send(OthersOf(log.members), std::move(packet));
      ++counters_.mcast_retx;
    } else {
      still_missing.push_back(seq);
    }
  }
  for (uint64_t seq = log.aru + 1; seq <= token.seq() && still_missing.size() < kMaxRtrEntries;
       ++seq) {
    if (!log.Has(seq) &&
        std::find(still_missing.begin(), still_missing.end(), seq) == still_missing.end()) {
      still_missing.push_back(seq);
    }
  }
  token.clear_rtr();
  for (uint64_t seq : still_missing) {
    token.add_rtr(seq);
  }

  const uint32_t sent = SendOnToken(log, token, recovery);

  // All-received-up-to.
  if (log.aru < token.aru() || token.aru_id() == options_.local_id || token.aru_id() == 0) {
    token.set_aru(log.aru);
    token.set_aru_id(log.aru == token.seq() ? 0 : options_.local_id);
  }
  if (token.aru() == last_seen_aru_ && token.aru() < token.seq()) {
    ++aru_unchanged_;
  } else {
    aru_unchanged_ = 0;
  }
  last_seen_aru_ = token.aru();
  if (aru_unchanged_ >= options_.fail_recv_const && token.aru_id() != 0 &&
      token.aru_id() != options_.local_id) {
    // A member has not received a message for fail_recv_const rotations: it cannot receive.
    ++counters_.fail_to_recv;
    fail_.insert(token.aru_id());
    EnterGather(now, "failed to receive");
    return;
  }

  // Messages up to the lower of this visit's and the previous visit's aru are at every member.
  const uint64_t all_received = have_prev_visit_ ? std::min(prev_visit_aru_, token.aru()) : 0;
  const bool clean = sent == 0 && token.rtr_size() == 0 && token.backlog() == 0 &&
                     token.aru() == token.seq() && log.aru == token.seq();
  const bool done =
      recovery && clean && have_prev_visit_ && prev_visit_clean_ && prev_visit_seq_ == token.seq();
  prev_visit_clean_ = clean;
  prev_visit_aru_ = token.aru();
  prev_visit_seq_ = token.seq();
  have_prev_visit_ = true;
  safe_upto_ = std::max(safe_upto_, all_received);

  if (done) {
    EnterOperational(now);  // `log` now refers to a moved-from ring: not used below
  } else if (!recovery) {
    DeliverReady(log);
    CollectGarbage(log, all_received);
  }

  // An idle ring's token is held by the representative.
  bool hold = false;
  if (state_ == TotemState::kOperational) {
    const bool rep = cur_.members.front() == options_.local_id;
    if (sent > 0) {
      token.set_idle_rotations(0);
    } else if (rep && token.seq() == rep_last_seq_) {
      token.set_idle_rotations(token.idle_rotations() + 1);
    } else if (rep) {
      token.set_idle_rotations(0);
    }
    if (rep) {
      rep_last_seq_ = token.seq();
    }
    ring_idle_ = static_cast<int>(token.idle_rotations()) >= options_.seqno_unchanged_const;
    hold = rep && ring_idle_ && send_queue_.empty() && token.rtr_size() == 0 &&
           token.aru() == token.seq();
  }
  ForwardToken(now, std::move(token), hold);
}

uint32_t TotemCore::SendOnToken(RingLog& log, wire::Token& token, bool recovery) {
  // Send within flow control: max_messages per visit, window_size per rotation.
  const int64_t others_fcc = std::max<int64_t>(0, int64_t{token.fcc()} - my_fcc_);
  const int64_t allowed = std::max<int64_t>(
      0, std::min<int64_t>(options_.max_messages, options_.window_size - others_fcc));
  uint32_t sent = 0;
  while (sent < allowed) {
    wire::Message message;
    if (recovery) {
      if (recovery_queue_.empty()) {
        break;
      }
      *message.mutable_recovered() = std::move(recovery_queue_.front());
      recovery_queue_.pop_front();
    } else {
      if (send_queue_.empty()) {
        break;
      }
      send_queue_bytes_ -= send_queue_.front().payload.size();
      message.set_payload(std::move(send_queue_.front().payload));
      message.set_safe(send_queue_.front().safe);
      send_queue_.pop_front();
    }
    *message.mutable_ring_id() = ToWire(log.id);
    message.set_seq(token.seq() + 1);
    message.set_origin(options_.local_id);
    token.set_seq(token.seq() + 1);
    Multicast(log, std::move(message));
    ++sent;
  }
  token.set_fcc(static_cast<uint32_t>(others_fcc + sent));
  my_fcc_ = sent;
  const uint32_t pending =
      static_cast<uint32_t>(recovery ? recovery_queue_.size() : send_queue_.size());
  token.set_backlog(
      static_cast<uint32_t>(std::max<int64_t>(0, int64_t{token.backlog()} - my_backlog_)) +
      pending);
  my_backlog_ = pending;

  return sent;
}

void TotemCore::ForwardToken(absl::Time now, wire::Token token, bool hold) {
  RingLog& log = ActiveLog();
  token.set_token_seq(std::max(token.token_seq(), log.last_token_seq) + 1);
  log.last_token_seq = token.token_seq();
  const NodeId next = Successor(log.members);
  if (hold || next == options_.local_id) {
    held_token_ = std::move(token);
    hold_at_ = now + (hold ? options_.hold : absl::ZeroDuration());
    return;
  }
  const uint64_t seq = token.seq();
  wire::Packet packet = NewPacket();
  *packet.mutable_token() = std::move(token);
  ++counters_.orf_token_tx;
  SendTokenLike(now, std::move(packet), next, seq);
}

void TotemCore::ReleaseHeldToken(absl::Time now) {
  hold_at_.reset();
  if (!held_token_) {
    return;
  }
  wire::Token token = std::move(*held_token_);
  held_token_.reset();
  RingLog& log = ActiveLog();
  const NodeId next = Successor(log.members);
  if (next == options_.local_id) {
    ProcessToken(now, std::move(token));
    return;
  }
  const uint64_t seq = token.seq();
  wire::Packet packet = NewPacket();
  *packet.mutable_token() = std::move(token);
  ++counters_.orf_token_tx;
  SendTokenLike(now, std::move(packet), next, seq);
}

void TotemCore::SendOnHeldToken(absl::Time now) {
  // The visit that holds the token is not over: what was just submitted goes out on it now,
  // within flow control, and the token goes on (it no longer waits for `hold`).
  wire::Token token = std::move(*held_token_);
  held_token_.reset();
  hold_at_.reset();
  const uint32_t sent = SendOnToken(cur_, token, false);
  if (sent > 0) {
    if (cur_.aru < token.aru() || token.aru_id() == options_.local_id || token.aru_id() == 0) {
      token.set_aru(cur_.aru);
      token.set_aru_id(cur_.aru == token.seq() ? 0 : options_.local_id);
    }
    rep_last_seq_ = token.seq();
  }
  token.set_idle_rotations(0);
  ring_idle_ = false;
  DeliverReady(cur_);
  const uint64_t seq = token.seq();
  wire::Packet packet = NewPacket();
  *packet.mutable_token() = std::move(token);
  ++counters_.orf_token_tx;
  SendTokenLike(now, std::move(packet), Successor(cur_.members), seq);
}

void TotemCore::SendTokenLike(absl::Time now, wire::Packet packet, NodeId to, uint64_t seq) {
  Send({to}, packet);
  sent_token_ = SentToken{std::move(packet), to, seq};
  token_retransmit_at_ = now + options_.token_retransmit;
}

void TotemCore::Multicast(RingLog& log, wire::Message message) {
  log.Insert(message);
  ++counters_.mcast_tx;
  const std::vector<NodeId> to = OthersOf(log.members);
  if (!to.empty()) {
    wire::Packet packet = NewPacket();
    *packet.mutable_message() = std::move(message);
    Send(to, std::move(packet));
  }
}

void TotemCore::DeliverReady(RingLog& log) {
  for (;;) {
    auto it = log.messages.find(log.high_delivered + 1);
    if (it == log.messages.end()) {
      return;
    }
    const wire::Message& message = it->second;
    if (message.safe() && message.seq() > safe_upto_) {
      return;  // safe order: wait until every member has it
    }
    log.high_delivered = message.seq();
    if (!message.has_recovered()) {
      effects_.deliver.push_back(
          Delivery{log.id, message.seq(), message.origin(), message.safe(), message.payload()});
      ++counters_.delivered;
    }
  }
}

void TotemCore::CollectGarbage(RingLog& log, uint64_t all_received) {
  const uint64_t upto = std::min(all_received, log.high_delivered);
  log.messages.erase(log.messages.begin(), log.messages.upper_bound(upto));
}

NodeId TotemCore::Successor(const std::vector<NodeId>& members) const {
  auto it = std::find(members.begin(), members.end(), options_.local_id);
  if (it == members.end() || ++it == members.end()) {
    return members.front();
  }
  return *it;
}

// ---------------------------------------------------------------------------------------------
// Output

void TotemCore::Send(std::vector<NodeId> to, wire::Packet packet) {
  to.erase(std::remove(to.begin(), to.end(), options_.local_id), to.end());
  if (to.empty()) {
    return;
  }
  effects_.send.push_back(Outgoing{std::move(to), std::move(packet)});
}

wire::Packet TotemCore::NewPacket() const {
  wire::Packet packet;
  packet.set_sender(options_.local_id);
  return packet;
}

std::vector<NodeId> TotemCore::OthersOf(const std::vector<NodeId>& nodes) const {
  std::vector<NodeId> out;
  for (NodeId id : nodes) {
    if (id != options_.local_id) {
      out.push_back(id);
    }
  }
  return out;
}

Effects TotemCore::TakeEffects() {
  Effects out = std::move(effects_);
  effects_ = Effects{};
  return out;
}

}  // namespace ha::membership
