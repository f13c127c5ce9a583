// The totem single-ring protocol (membership and total order), as a pure state machine.
//
// It implements the Totem single-ring protocol of Amir, Moser, Melliar-Smith, Agarwal and
// Ciarfella ("The Totem single-ring ordering and membership protocol", ACM TOCS 13(4), 1995),
// with the extended virtual synchrony of Moser et al. (ICDCS 1994) as corosync's totemsrp does.
// The driver feeds it packets, timer ticks and local sends, and carries out what it returns:
// packets to send (Effects::send) and what to hand to the layers above, in order
// (Effects::deliver: messages and configuration changes). It does no I/O, reads no clock, keeps
// no globals, and draws randomness only from its seeded generator, so a run replays exactly.
//
// States (Totem's, corosync's names):
//   kGather       looking for the members of the next ring: multicasting joins with the sets of
//                 nodes believed alive (proc) and failed (fail) until every node of proc - fail
//                 announced the same sets (consensus), or `consensus` runs out (then the silent
//                 ones are added to fail).
//   kCommit       the representative (lowest id of the agreed set) sent the commit token; on its
//                 first rotation each member writes what it brings from its old ring.
//   kRecovery     the commit token's second rotation started the new ring's token; members of a
//                 same old ring retransmit that ring's messages to each other inside the new ring
//                 until they all hold the same set, and nothing new is sent.
//   kOperational  the token rotates, messages are ordered by the sequence numbers it hands out.
//
// Deviations from the paper and from corosync, numbered:
//  1. Only the representative holds an idle ring's token (for `hold`), instead of every member,
//     so an idle rotation costs one hold (the member before it may resend the token once during
//     a hold longer than token_retransmit; the copy is dropped); a member with something to send
//     unicasts TokenHoldCancel to it; the representative's own Submit goes out on the held token
//     at once (the visit is not over), then the token goes on.
//  6. A new message of the current ring (a seq never seen) also restarts the token loss timer:
//     someone held the token just now. Each lost hop of a rotation delays the token by a
//     retransmit interval, and on a busy ring this keeps scattered losses from adding up.
//  2. Recovery completes when a member sees the token twice in a row with nothing pending
//     (backlog 0, aru == seq, unchanged seq) instead of corosync's retrans_flg counting; a member
//     sends no new messages on the visit it becomes operational, so the others see the same.
//  3. Old-ring messages after the first hole are discarded at the transition (nobody of the
//     old ring can have them all), instead of being delivered in a transitional configuration;
//     only the regular configuration change is reported (with `left` and `joined`). The old
//     ring's undelivered messages are delivered at the transition whether safe or not: a safe
//     message is then only known to be at every member moving on with this node, not at the
//     members that left.
//  4. While in kCommit or kRecovery, a join from a member of the forming ring aborts it when it is
//     fresh: sent after the commit token (ring_seq) or announcing sets that are not a subset of
//     the agreed ones, so a view change during formation does not wait for a token loss. In every
//     state a stale join is dropped: one whose ring_seq is below the seq of a ring its sender is
//     known to have installed (my last ring, if it was a member; the old ring it wrote into the
//     forming ring's commit token), i.e. sent before that ring formed; and outside operational,
//     one whose ring_seq is below that of a join already received from the same sender since
//     this node left operational (overtaken on the way). A restarted node whose persisted ring
//     seq is lower learns the higher one from the joins of the nodes that drop its own.
//  7. A join that makes an operational node (or a forming ring's member) gather is processed
//     before consensus is checked: a ring of the node's current view alone (a ring of one, for a
//     node alone) must not form at once, ignoring the join, only to be left at the next join.
//  5. The commit token is retransmitted like the regular token.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/totem_wire.pb.h"

namespace ha::membership {

namespace wire = ::ha::totem::wire::v1;
using NodeId = uint32_t;

struct RingId {
  NodeId rep = 0;
  uint64_t seq = 0;
  auto operator<=>(const RingId&) const = default;
};

// The protocol's parameters, corosync.conf(5)'s totem timers with the node count applied.
struct TotemOptions {
  NodeId local_id = 0;
  std::vector<NodeId> nodes;  // the configured nodelist, the local node included
  // A token not received for this long is lost (corosync's token, with token_coefficient applied).
  absl::Duration token = absl::Milliseconds(300);
  // The token (or commit token) is sent again when nothing shows the successor got it.
  absl::Duration token_retransmit = absl::Milliseconds(70);
  // How long the representative holds an idle ring's token.
  absl::Duration hold = absl::Milliseconds(45);
  absl::Duration join = absl::Milliseconds(50);        // join resend interval in gather
  absl::Duration send_join = absl::ZeroDuration();     // random delay [0, send_join) before a join
  absl::Duration consensus = absl::Milliseconds(360);  // gather's deadline for agreement
  absl::Duration merge = absl::Milliseconds(200);      // merge detect interval of a representative
  int fail_recv_const = 2500;      // rotations with aru stuck before its owner is failed
  int seqno_unchanged_const = 30;  // idle rotations before the token may be held
  int window_size = 50;            // messages per rotation, ring-wide
  int max_messages = 17;           // messages per token visit, per member
  size_t max_send_queue = 10000;   // Submit refuses beyond (RESOURCE_EXHAUSTED)
  // The queue's payload bytes: Submit refuses a message that would go beyond (RESOURCE_EXHAUSTED),
  // unless the queue is empty. The count alone allows 600 MB of max_payload messages, locked in
  // memory (mlockall); 64 MiB holds the process groups' whole backlog (GroupOptions'
  // max_pending_bytes) and about twenty rotations of full windows: more only adds latency.
  size_t max_send_queue_bytes = size_t{64} << 20;
  size_t max_payload = 60000;     // bytes per message
  uint64_t initial_ring_seq = 0;  // the highest ring seq this node saw before it restarted
  uint64_t random_seed = 1;       // for send_join's delay
};

// One message delivered in agreed order.
struct Delivery {
  RingId ring_id;  // the configuration it was delivered in
  uint64_t seq = 0;
  NodeId origin = 0;
  bool safe = false;
  std::string payload;
};

// A new configuration was installed. Everything delivered before it belongs to the previous one.
struct ConfigChange {
  RingId ring_id;
  std::vector<NodeId> members;  // ascending
  std::vector<NodeId> joined;   // members not in the previous configuration
  std::vector<NodeId> left;     // previous members not in this one
};

using Output = std::variant<Delivery, ConfigChange>;

struct Outgoing {
  std::vector<NodeId> to;  // never contains the local node
  wire::Packet packet;
};

struct Effects {
  std::vector<Outgoing> send;
  std::vector<Output> deliver;
  // State transitions and their reasons, as log lines for the driver ("entering GATHER: token
  // lost ...").
  std::vector<std::string> log;
};

enum class TotemState { kGather, kCommit, kRecovery, kOperational };
const char* TotemStateName(TotemState state);

// Runtime counters, named as corosync's runtime.totem.* keys (see proto/membership.proto).
struct TotemCounters {
  uint64_t orf_token_tx = 0;
  uint64_t orf_token_rx = 0;
  uint64_t orf_token_retx = 0;
  uint64_t mcast_tx = 0;
  uint64_t mcast_retx = 0;
  uint64_t mcast_rx = 0;
  uint64_t memb_join_tx = 0;
  uint64_t memb_join_rx = 0;
  uint64_t memb_commit_token_tx = 0;
  uint64_t memb_merge_detect_tx = 0;
  uint64_t operational_entered = 0;
  uint64_t operational_token_lost = 0;
  uint64_t gather_entered = 0;
  uint64_t commit_entered = 0;
  uint64_t commit_token_lost = 0;
  uint64_t recovery_entered = 0;
  uint64_t recovery_token_lost = 0;
  uint64_t consensus_timeouts = 0;
  uint64_t rx_msg_dropped = 0;  // packets of other rings, stale or duplicate
  uint64_t continuous_gather = 0;
  uint64_t fail_to_recv = 0;
  uint64_t delivered = 0;
  uint64_t old_ring_discarded = 0;       // old-ring messages after a hole, dropped at a transition
  uint64_t peer_unreachable_failed = 0;  // members failed on the transport's signal
  uint64_t join_stale = 0;          // joins sent before a ring their sender installed (dropped)
  uint64_t formation_aborted = 0;   // forming rings abandoned for a member's fresh join
  uint64_t send_queue_dropped = 0;  // queued messages dropped for the layer above (DropQueued)
};

class TotemCore {
 public:
  explicit TotemCore(TotemOptions options);

  // Enters gather for the first time. Call once, before anything else.
  Effects Start(absl::Time now);
  // A packet from `packet.sender()`, already authenticated and decoded.
  Effects OnPacket(absl::Time now, const wire::Packet& packet);
  // The transport learnt that nothing listens at `node`'s address (ICMP port unreachable: its
  // process is gone). A member or candidate is failed at once instead of after the token and
  // consensus timeouts; a node this one has not heard of is ignored.
  Effects OnPeerUnreachable(absl::Time now, NodeId node);
  // Fires every timer whose deadline is <= now.
  Effects OnTimer(absl::Time now);
  // The earliest timer deadline; OnTimer is due then.
  std::optional<absl::Time> NextDeadline() const;
  // Queues a message for the ring. RESOURCE_EXHAUSTED when the queue is full (max_send_queue
  // messages, or max_send_queue_bytes with this one), INVALID_ARGUMENT when it is too big.
  // `effects` receives a hold cancel or the release of a held token.
  absl::Status Submit(absl::Time now, std::string payload, bool safe, Effects& effects);
  // Drops the queued messages (submitted, not multicast yet) for which `drop` is true, keeping
  // the others in order; returns how many it dropped. For a layer above whose queued messages
  // became useless, such as process-group frames of a configuration that ended
  // (GroupCore::IsStaleFrame, at each configuration change). Never touches what is on the ring.
  size_t DropQueued(absl::FunctionRef<bool(const std::string& payload)> drop);
  // Graceful leave: tells the others, who drop this node at once. The core is then stopped:
  // every later call is ignored.
  Effects Leave(absl::Time now);

  TotemState state() const { return state_; }
  RingId ring_id() const { return cur_.id; }
  const std::vector<NodeId>& members() const { return cur_.members; }
  const TotemCounters& counters() const { return counters_; }
  size_t send_queue_size() const { return send_queue_.size(); }
  size_t send_queue_bytes() const { return send_queue_bytes_; }
  // Whether this node holds the token of an idle ring (deviation 1) right now.
  bool holds_token() const { return held_token_.has_value(); }
  // The highest ring seq seen: the driver persists it across restarts (TotemOptions).
  uint64_t max_ring_seq() const { return max_ring_seq_; }

 private:
  // A ring's message store: what this node received of that ring's total order.
  struct RingLog {
    RingId id;
    std::vector<NodeId> members;
    std::map<uint64_t, wire::Message> messages;  // received, not yet garbage collected
    uint64_t aru = 0;                            // every message up to here was received
    uint64_t high_seq = 0;                       // highest received
    uint64_t high_delivered = 0;                 // delivered up to here
    uint64_t last_token_seq = 0;                 // newest token seen on this ring
    bool Insert(const wire::Message& message);   // false: a duplicate
    bool Has(uint64_t seq) const;
  };

  struct Pending {
    std::string payload;
    bool safe = false;
  };

  // What is needed to carry a token-like packet on: the packet and its successor.
  struct SentToken {
    wire::Packet packet;
    NodeId to = 0;
    uint64_t ring_seq_or_msg_seq = 0;  // messages of the ring beyond this prove progress
  };

  // State transitions.
  // `check_consensus` false: the caller goes on to process a join first (a join that made this
  // node gather must count before a ring of the current view could form at once).
  void EnterGather(absl::Time now, const char* why, bool check_consensus = true);
  void EnterCommit(absl::Time now, const wire::CommitToken& token);
  void EnterRecovery(absl::Time now, const wire::CommitToken& token);
  void EnterOperational(absl::Time now);

  // Packet handlers.
  void HandleToken(absl::Time now, NodeId from, const wire::Token& token);
  void HandleMessage(absl::Time now, NodeId from, const wire::Message& message);
  void HandleJoin(absl::Time now, NodeId from, const wire::Join& join);
  void HandleCommit(absl::Time now, NodeId from, const wire::CommitToken& token);
  void HandleMergeDetect(absl::Time now, NodeId from, const wire::MergeDetect& merge);
  void HandleHoldCancel(absl::Time now, NodeId from);
  void HandleLeave(absl::Time now, NodeId from, const wire::Leave& leave);

  // Gather helpers.
  void SendJoin(absl::Time now);
  void ScheduleJoin(absl::Time now);
  void CheckConsensus(absl::Time now);
  std::vector<NodeId> AgreedMembers() const;  // proc - fail, ascending
  bool JoinIsStale(const wire::Join& join, NodeId from) const;

  // Token helpers.
  void ProcessToken(absl::Time now, wire::Token token);
  void ForwardToken(absl::Time now, wire::Token token, bool hold);
  void SendTokenLike(absl::Time now, wire::Packet packet, NodeId to, uint64_t progress_seq);
  void ReleaseHeldToken(absl::Time now);
  // Sends what is queued (within flow control) on the token the representative holds, then
  // passes it on: a local Submit need not wait a rotation.
  void SendOnHeldToken(absl::Time now);
  // Multicasts queued (or, in recovery, old-ring) messages on `token` within flow control and
  // updates its seq, fcc and backlog; returns how many it sent.
  uint32_t SendOnToken(RingLog& log, wire::Token& token, bool recovery);
  void Multicast(RingLog& log, wire::Message message);
  void DeliverReady(RingLog& log);
  void CollectGarbage(RingLog& log, uint64_t all_received);
  NodeId Successor(const std::vector<NodeId>& members) const;
  RingLog& ActiveLog() { return state_ == TotemState::kRecovery ? next_ : cur_; }

  // Output helpers.
  void Send(std::vector<NodeId> to, wire::Packet packet);
  wire::Packet NewPacket() const;
  std::vector<NodeId> OthersOf(const std::vector<NodeId>& nodes) const;
  Effects TakeEffects();

  const TotemOptions options_;
  std::mt19937_64 random_;
  TotemState state_ = TotemState::kGather;
  bool started_ = false;
  bool stopped_ = false;
  Effects effects_;
  TotemCounters counters_;

  RingLog cur_;   // the last operational ring
  RingLog next_;  // the ring being recovered (kRecovery)
  uint64_t max_ring_seq_ = 0;

  // Sending.
  std::deque<Pending> send_queue_;
  size_t send_queue_bytes_ = 0;               // the payload bytes of send_queue_
  std::deque<wire::Message> recovery_queue_;  // old-ring messages to carry in recovery
  uint32_t my_fcc_ = 0;                       // my share of token.fcc in the last rotation
  uint32_t my_backlog_ = 0;                   // my share of token.backlog

  // Token state of the active ring.
  std::optional<SentToken> sent_token_;  // retransmitted until progress shows
  std::optional<wire::Token> held_token_;
  uint64_t prev_visit_aru_ = 0;  // token.aru after my previous visit
  uint64_t prev_visit_seq_ = 0;
  bool prev_visit_clean_ = false;  // recovery: nothing pending at my previous visit
  bool have_prev_visit_ = false;
  uint64_t last_seen_aru_ = 0;  // fail_recv_const tracking
  int aru_unchanged_ = 0;
  uint64_t rep_last_seq_ = 0;      // representative: seq at its previous visit
  uint64_t safe_upto_ = 0;         // every member has every message up to here
  bool ring_idle_ = false;         // the last token I saw was idle (likely held)
  bool hold_cancel_sent_ = false;  // since my last visit

  // Gather.
  std::set<NodeId> proc_;
  std::set<NodeId> fail_;
  std::set<NodeId> consensus_;  // nodes that announced exactly proc_/fail_
  // Outside operational: the highest ring_seq each node's joins carried since this node left
  // operational (a lower one is from an older join, overtaken on the way).
  std::map<NodeId, uint64_t> join_ring_seq_;
  bool gather_since_operational_ = false;

  // Commit / recovery.
  std::optional<wire::CommitToken> commit_;  // the forming ring's commit token as last seen
  uint32_t commit_last_index_ = 0;
  uint64_t recovery_high_ = 0;  // highest old-ring seq any of my group has

  // Timers (absent: not armed).
  std::optional<absl::Time> token_loss_at_;
  std::optional<absl::Time> token_retransmit_at_;
  std::optional<absl::Time> hold_at_;
  std::optional<absl::Time> join_at_;
  std::optional<absl::Time> consensus_at_;
  std::optional<absl::Time> merge_at_;
};

}  // namespace ha::membership
