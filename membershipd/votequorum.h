// votequorum, membershipd's quorum service, as a pure state machine.
//
// It implements the vote counting of corosync's votequorum service (votequorum(5),
// corosync-quorumtool(8), corosync's exec/votequorum.c) on top of a ring that gives every node the
// same sequence of configuration changes and agreed-order messages. The driver feeds it those
// (OnConfigChange, OnMessage), the last_man_standing timer (OnTimer) and the administrator's
// requests (SetExpectedVotes, SetVotes, Leave), and carries out the Effects each returns:
// messages to multicast in agreed order, the timer to arm or cancel, log lines. It does no I/O,
// reads no clock and keeps no globals; `now` only stamps QuorumState::since.
//
// The rules:
//  - Each node has votes (its nodelist quorum_votes; 1 for a node not in the nodelist, as corosync
//    counts one) and holds an expected votes value, initially quorum.expected_votes or else the sum
//    of the nodelist's votes. After every configuration change each member multicasts a NodeInfo
//    (its votes, its expected votes, its wait_for_all state).
//  - A member's votes count once its NodeInfo for the current configuration is delivered; a member
//    that was counted in the previous configuration keeps counting with what is known of it until
//    then. The configuration is "synced" once every member's NodeInfo has been delivered.
//  - total_votes = the counted members' votes; highest_expected = the highest expected votes the
//    members report (leaving ones included); expected_votes = max(highest_expected, total_votes,
//    what this configuration already agreed on); quorum = expected_votes / 2 + 1, or 1 with
//    two_node while at most 2 members count. Expected votes never go down by themselves (a member
//    leaving does not lower them), only through SetExpectedVotes, last_man_standing and
//    allow_downscale, which all act when their message is delivered, so that every member changes
//    them at the same point of the order.
//  - quorate = not waiting for all (wait_for_all) and total_votes >= quorum, or, with
//    auto_tie_breaker, total_votes is exactly half of expected_votes and the tie-breaker node
//    counts here.
//  - wait_for_all: a node starts waiting; it stops once the synced configuration counts all the
//    expected votes, or when a member reports it is not waiting (it has seen them all before).
//    Then it behaves normally for the rest of its life.
//  - last_man_standing: a configuration change that loses members arms the window timer, and any
//    configuration change while it runs starts it again (the membership must be stable for the
//    whole window). When it runs out on a quorate, synced node, the node multicasts
//    LastManStanding, and its delivery in that same configuration, still quorate, lowers expected
//    votes to the total votes on every member (later ones find nothing to lower). So the
//    cluster can shrink one step per window: 5 -> 4 -> 3 -> 2, and down to 1 only with
//    auto_tie_breaker (1 vote is exactly half of 2).
//  - allow_downscale: a member's NodeInfo with `leaving` (its Leave()) stops its votes counting
//    and, once synced, lowers expected votes to the remaining total votes, not below the
//    configured expected votes (or the last value set by SetExpectedVotes), never raising them.
//
// Every member of a configuration reaches the same quorate / expected_votes / total_votes / quorum
// / highest_expected / wait_for_all state once it is synced and the members have processed the same
// messages: after the sync everything depends only on what was delivered in the configuration.
// Before it, a node may still count survivors with what it knew of them.
//
// Deviations from corosync's votequorum, numbered:
//  1. A member reporting a higher expected votes raises everyone's (corosync only takes the value
//     from a quorate sender, and an inquorate node adopts a quorate sender's lower value).
//  2. wait_for_all, once cleared, stays cleared (corosync waits again after losing quorum unless a
//     quorate member that is not waiting tells it otherwise); a member that is not waiting clears
//     it for the others whether or not it is quorate.
//  3. The auto_tie_breaker nodes "lowest" and "highest" are the lowest and highest node ids of the
//     nodelist (corosync: of the last quorate partition this node saw), and the split must be
//     exactly half (corosync also accepts half rounded down). Without SetVotes, SetExpectedVotes
//     and last_man_standing this keeps two disjoint partitions from both being quorate, which
//     corosync's history-based choice does not guarantee. A list of tie-breaker nodes is read as
//     corosync does: the first listed node that counts here wins, unless an earlier listed node
//     was in the previous configuration of a member (it may be in the other half). That fallback
//     rests on history: a listed node never in a configuration with the other half (one started
//     after the split) can make both halves quorate, as in corosync.
//  4. last_man_standing lowers expected votes to the total votes (corosync: to the member count,
//     and disables itself when a node has more than 1 vote) and acts through an agreed
//     LastManStanding message rather than each node's own timer.
//  5. A Leave() is multicast with or without allow_downscale; without it the leaving node's votes
//     just stop counting before its departure. expected_votes_tracking (the ev_tracking file) and
//     quorum devices are not supported; corosync's cancel_wait_for_all is not offered.
//  6. SetVotes is refused only as proto/membership.proto says (no provider, unknown node);
//     corosync also refuses votes that would leave the partition without quorum.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/cluster_config.h"
#include "proto/votequorum_wire.pb.h"

namespace ha::membership::v1 {
class QuorumState;  // proto/membership.proto
}

namespace ha::membership {

namespace vqwire = ::ha::votequorum::wire::v1;

// The name QuorumState::provider carries when quorum is configured.
inline constexpr char kVoteQuorumProvider[] = "corosync_votequorum";

// A ring configuration's identity (ha.membership.v1.RingId).
struct QuorumRingId {
  uint32_t rep_node_id = 0;  // the representative (lowest node id of the configuration)
  uint64_t seq = 0;          // grows with every configuration change
  auto operator<=>(const QuorumRingId&) const = default;
};

// A node's state in the vote count (ha.membership.v1.VoteNodeState).
enum class VoteNodeState {
  kMember,   // a member of the current configuration whose votes count
  kDead,     // its votes do not count: not a member, or a member whose NodeInfo for this
             // configuration has not been delivered yet
  kLeaving,  // a member shutting down cleanly (its NodeInfo said `leaving`); its votes do not count
};

// ha.membership.v1.NodeVotes.
struct NodeVotes {
  uint32_t node_id = 0;
  std::string name;             // the nodelist name; "" for a node not in the nodelist
  uint32_t votes = 0;           // as the node last reported them, or as SetVotes set them
  uint32_t expected_votes = 0;  // the expected votes the node last reported (0: never heard)
  VoteNodeState state = VoteNodeState::kDead;
  bool operator==(const NodeVotes&) const = default;
};

// ha.membership.v1.QuorumFlags: the options in force and the wait_for_all state.
struct QuorumFlags {
  bool two_node = false;
  bool wait_for_all = false;
  bool wait_for_all_waiting = false;  // still waiting for all nodes: no quorum until then
  bool last_man_standing = false;
  bool auto_tie_breaker = false;
  bool allow_downscale = false;
  bool operator==(const QuorumFlags&) const = default;
};

// ha.membership.v1.QuorumState, field for field.
struct QuorumState {
  bool quorate = false;
  QuorumRingId ring_id;
  uint32_t expected_votes = 0;
  uint32_t highest_expected = 0;
  uint32_t total_votes = 0;
  uint32_t quorum = 0;
  std::vector<NodeVotes> nodes;  // every known node (nodelist and members seen), by node id
  QuorumFlags flags;
  uint32_t local_node_id = 0;
  std::string provider;  // kVoteQuorumProvider, or "" when quorum is not configured
  absl::Time since = absl::InfinitePast();  // when `quorate` last changed (InfinitePast: never)
  bool operator==(const QuorumState&) const = default;
};

// Fills `out` (cleared first). `since` becomes since_unix_ms (0 when InfinitePast).
void ToProto(const QuorumState& state, v1::QuorumState* out);

// The serialized form of a message, as multicast on the ring.
std::string EncodeVoteQuorumMessage(const vqwire::Message& message);
// Parses a delivered payload; InvalidArgument when it is not a votequorum message or breaks the
// bounds (a body must be set; at most kMaxVoteQuorumMembers previous members).
absl::StatusOr<vqwire::Message> DecodeVoteQuorumMessage(absl::string_view payload);
inline constexpr size_t kMaxVoteQuorumMembers = 1024;

class VoteQuorum {
 public:
  struct LogLine {
    int priority = 0;  // syslog LOG_*
    std::string text;  // "<sentence> | key=value ..."
    bool operator==(const LogLine&) const = default;
  };

  // What the driver must do after an event, in this order: multicast `multicast` (agreed order,
  // each serialized with EncodeVoteQuorumMessage), arm or cancel the one timer (arming replaces a
  // pending one; when it fires, call OnTimer), log `log`, and publish state() if `state_changed`.
  struct Effects {
    std::vector<vqwire::Message> multicast;
    std::optional<absl::Duration> arm_timer;
    bool cancel_timer = false;
    bool state_changed = false;
    std::vector<LogLine> log;
  };

  // The effective options, after corosync's adjustments (two_node needs a 2-node nodelist and
  // no auto_tie_breaker; auto_tie_breaker with an odd number of votes needs wait_for_all).
  enum class TieBreaker { kNone, kLowest, kHighest, kList };
  struct Options {
    bool enabled = false;  // quorum.provider is corosync_votequorum
    bool two_node = false;
    bool wait_for_all = false;
    bool last_man_standing = false;
    absl::Duration last_man_standing_window = absl::Seconds(10);
    TieBreaker tie_breaker = TieBreaker::kNone;
    std::vector<uint32_t> tie_breaker_list;  // with kList, in priority order
    bool allow_downscale = false;
    uint32_t configured_expected = 0;  // quorum.expected_votes, else the nodelist's votes
  };

  // `nodelist` is the configuration's nodelist; `local_node_id` this node (it need not be in the
  // nodelist: it then has 1 vote). InvalidArgument for local id 0, an unknown provider, a bad
  // auto_tie_breaker_node, and, as corosync refuses to start, for auto_tie_breaker with
  // last_man_standing in a cluster with an odd number of votes without wait_for_all.
  static absl::StatusOr<VoteQuorum> Create(const config::QuorumConfig& quorum,
                                           const std::vector<config::NodeConfig>& nodelist,
                                           uint32_t local_node_id);

  // A new ring configuration. REQUIRES: the local node is a member (otherwise it is ignored and
  // logged) and ring ids grow. Multicasts this node's NodeInfo for the new configuration.
  Effects OnConfigChange(const QuorumRingId& ring_id,
                         std::vector<uint32_t> members,
                         absl::Time now);
  // A votequorum message delivered in agreed order (the local node's own ones included).
  Effects OnMessage(uint32_t sender, const vqwire::Message& message, absl::Time now);
  // The timer armed by an earlier Effects fired (a stale firing after a cancel is ignored).
  Effects OnTimer(absl::Time now);

  // corosync-quorumtool -e. Validated here against the current state (FailedPrecondition without a
  // quorum provider; InvalidArgument for 0, for a value below the total votes, or one that would
  // leave this partition without quorum); the change is multicast and applied on delivery.
  absl::StatusOr<Effects> SetExpectedVotes(uint32_t expected_votes) const;
  // corosync-quorumtool -v. `node_id` 0 is the local node. FailedPrecondition without a quorum
  // provider, NotFound for a node neither in the nodelist nor ever seen. Applied on delivery; a
  // node keeps the votes until it restarts (its next NodeInfo reports them).
  absl::StatusOr<Effects> SetVotes(uint32_t node_id, uint32_t votes) const;
  // Clean shutdown: multicasts this node's NodeInfo with `leaving` (see allow_downscale) and
  // cancels the timer. Call before leaving the ring.
  Effects Leave();

  const QuorumState& state() const { return state_; }
  const Options& options() const { return options_; }
  // Every member's NodeInfo for the current configuration has been delivered.
  bool synced() const { return synced_; }
  // What Create adjusted in the options (corosync logs these at startup), for the daemon to log.
  const std::vector<std::string>& config_notes() const { return config_notes_; }

 private:
  struct Node {
    std::string name;
    bool in_nodelist = false;
    uint32_t votes = 1;
    uint32_t expected = 0;  // as reported (or set by an agreed change)
    bool member = false;    // in the current configuration
    bool heard = false;     // its NodeInfo for the current configuration was delivered
    bool carried = false;   // counted in the previous configuration, not heard in this one yet
    bool leaving = false;
    uint32_t downscale_floor = 0;
    std::vector<uint32_t> previous_members;  // from its NodeInfo for the current configuration
    // Its expected votes are known for this configuration (a leaving member's included).
    bool Reporting() const { return member && (heard || carried); }
    // Its votes count.
    bool Counted() const { return Reporting() && !leaving; }
  };

  VoteQuorum() = default;

  void HandleNodeInfo(uint32_t sender, const vqwire::NodeInfo& info, Effects& fx);
  void HandleSetExpectedVotes(const vqwire::SetExpectedVotes& msg, Effects& fx);
  void HandleSetVotes(const vqwire::SetVotes& msg, Effects& fx);
  void HandleLastManStanding(const vqwire::LastManStanding& msg, Effects& fx);
  // Sets the expected votes of the reporting members, the configuration's agreed value and this
  // node's own to `expected` (an agreed change: every member makes it at the same point).
  void SetAgreedExpected(uint64_t expected);

  // Recomputes the vote count and quorum and rebuilds state_; sets fx.state_changed.
  void Recompute(absl::Time now, Effects& fx);
  bool TieBreakerCounts() const;
  vqwire::Message NodeInfoMessage() const;
  QuorumState BuildState() const;
  uint64_t TotalVotes() const;       // of the counted members
  uint64_t HighestExpected() const;  // the highest expected votes a reporting member holds
  size_t CountedMembers() const;
  void Log(Effects& fx, int priority, std::string text) const;

  Options options_;
  std::vector<std::string> config_notes_;
  uint32_t local_id_ = 0;
  std::map<uint32_t, Node> nodes_;  // every known node

  // This node's own values, as it reports them in its NodeInfo.
  uint32_t votes_ = 1;
  uint64_t expected_votes_ = 0;
  uint32_t downscale_floor_ = 0;
  bool wait_for_all_waiting_ = false;
  bool leaving_ = false;

  // The current configuration.
  QuorumRingId ring_id_;
  std::vector<uint32_t> members_;           // ascending
  std::vector<uint32_t> previous_members_;  // of the configuration before it
  bool synced_ = false;
  // The expected votes this configuration agreed on so far: the expected votes never go below it
  // until an agreed change lowers it.
  uint64_t agreed_expected_ = 0;
  bool downscale_pending_ = false;  // a leaving member was delivered; lower once synced
  bool timer_armed_ = false;

  // The result of the last Recompute.
  uint64_t expected_ = 0;
  uint64_t total_ = 0;
  uint64_t quorum_ = 0;
  bool quorate_ = false;
  QuorumState state_;
};

}  // namespace ha::membership
