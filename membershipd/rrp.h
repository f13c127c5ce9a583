// Redundant rings (corosync 2's totemrrp), as a pure state machine between the totem core and the
// transport: the core's packets go out on N rings (ring0_addr, ring1_addr, ... of each node), what
// arrives on any ring goes up to the core, and each ring's health is watched.
//
// Modes (corosync.conf(5) of corosync 2, rrp_mode):
//   none     ring 0 only, nothing watched.
//   active   every packet on every ring not FAULTY. Copies of one packet arriving on other rings
//            are dropped (a packet seen again on the ring it first came on is a retransmission
//            and goes up). A token (or commit token) not received on a ring within
//            rrp_token_expired_timeout of its first arrival on another ring is a problem on that
//            ring, at most one per rrp_token_expired_timeout: "Incrementing problem counter for
//            seqid S iface ADDR to [N of T]". The token goes up at its first arrival (corosync
//            held it until every ring had it or the timeout ran out; at most one problem per
//            timeout keeps its timing: FAULTY after threshold timeouts without the token). Every
//            rrp_problem_count_timeout a counter above zero is decremented ("Decrementing problem
//            counter for iface ADDR to [N of T]"). At rrp_problem_count_threshold the ring is
//            marked FAULTY ("Marking ringid R interface ADDR FAULTY") and nothing more is sent on
//            it. A token that arrives on no ring counts nowhere: with every ring down the counters
//            stop and the core's token timeout changes the membership, as for a lost link.
//   passive  tokens round-robin over the rings not FAULTY, every other packet round-robin over
//            them too (a separate turn). Each ring counts the tokens and the other packets it
//            received; a ring whose count falls behind the best ring's by more than
//            rrp_problem_count_threshold (tokens) or rrp_problem_count_mcast_threshold (others) is
//            marked FAULTY (corosync's passive_monitor; its counter is that lag).
// In both modes the last ring not FAULTY is never marked FAULTY, and packets arriving on a FAULTY
// ring still go up.
//
// Recovery (ours; corosync 2 used ring test messages to the same end):
//  - automatic, unless rrp_autorecovery_check_timeout is 0: every check interval the node sends
//    a probe on each ring FAULTY here to every other node, which answers on that ring. When every
//    node heard from since the previous check answered the previous round on that ring, for
//    kCleanRounds rounds in a row, the ring is put back ("Automatically recovered ring R
//    interface ADDR") and the others are told to put it back as well (an activate on every ring).
//  - administrative (corosync-cfgtool -r): Reenable() puts every FAULTY ring back here and tells
//    the others.
// Both reset the ring's counter and give a RingStateChange for clients.
//
// The control packets (probe, probe reply, activate) are RrpControl values, not totem packets:
// the simulator carries them as they are; on the wire they are the `rrp` body of a Packet
// (proto/totem_wire.proto), encoded by the daemon.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/cluster_config.h"
#include "membershipd/totem_core.h"

namespace ha::membership {

enum class RrpMode { kNone, kPassive, kActive };
const char* RrpModeName(RrpMode mode);
absl::StatusOr<RrpMode> ParseRrpMode(absl::string_view text);

struct RrpOptions {
  RrpMode mode = RrpMode::kNone;
  NodeId local_id = 0;
  std::vector<NodeId> nodes;            // the configured nodelist, the local node included
  std::vector<std::string> ring_addrs;  // the local node's address on each ring (ring count)
  absl::Duration token_expired_timeout = absl::Milliseconds(47);
  absl::Duration problem_count_timeout = absl::Milliseconds(2000);
  int problem_count_threshold = 10;
  int problem_count_mcast_threshold = 100;
  absl::Duration autorecovery_check_timeout = absl::Milliseconds(1000);  // zero: off
  // Active mode: a copy of a packet arriving on another ring within this window is a duplicate.
  absl::Duration duplicate_window = absl::Milliseconds(10);
};

// From the totem section and the local node's ringN_addr (rrp_mode none: ring 0 only).
RrpOptions RrpOptionsFromConfig(const config::ClusterConfig& config, NodeId local_node_id);

enum class RingState { kActive, kFaulty };

// A control packet of the ring layer.
struct RrpControl {
  enum Kind { kProbe, kProbeReply, kActivate } kind = kProbe;
  NodeId sender = 0;
  int ring = 0;        // the ring it is about
  uint64_t round = 0;  // probe and reply
};

using RingPacket = std::variant<wire::Packet, RrpControl>;

struct RrpSend {
  int ring = 0;
  std::vector<NodeId> to;  // never the local node
  RingPacket packet;
};

// A ring went FAULTY or back in service: for clients (a notification) and the status tool.
struct RingStateChange {
  int ring = 0;
  std::string address;
  RingState state = RingState::kActive;
  std::string reason;
};

struct RrpEffects {
  std::vector<RrpSend> send;
  std::vector<wire::Packet> deliver;  // up to the core, in order
  std::vector<std::string> log;
  std::vector<RingStateChange> changes;
};

struct RingStatus {
  int ring = 0;
  std::string address;
  RingState state = RingState::kActive;
  int problem_count = 0;  // active: the counter; passive: the token lag
  int threshold = 0;
  std::string text;  // corosync-cfgtool -s's line: "ring 1 active with no faults" or the marking
  uint64_t tx = 0;
  uint64_t rx = 0;
  uint64_t rx_duplicates = 0;
  uint64_t faulty_marked = 0;
  uint64_t recovered = 0;
};

class RedundantRings {
 public:
  // Rounds of clean probes in a row before a FAULTY ring is put back automatically.
  static constexpr int kCleanRounds = 2;

  explicit RedundantRings(RrpOptions options);

  // Sends what the core wants sent.
  RrpEffects Send(absl::Time now, const std::vector<Outgoing>& out);
  // Something arrived on `ring`.
  RrpEffects OnPacket(absl::Time now, int ring, const RingPacket& packet);
  // Fires every timer whose deadline is <= now.
  RrpEffects OnTimer(absl::Time now);
  std::optional<absl::Time> NextDeadline() const;
  // corosync-cfgtool -r: every FAULTY ring back in service, here and at the other nodes.
  RrpEffects Reenable(absl::Time now);

  int ring_count() const { return static_cast<int>(rings_.size()); }
  RingState state(int ring) const { return rings_.at(ring).state; }
  int problem_count(int ring) const;
  std::vector<RingStatus> Status() const;
  const RrpOptions& options() const { return options_; }

 private:
  struct Ring {
    std::string address;
    RingState state = RingState::kActive;
    int problems = 0;  // active mode
    std::optional<absl::Time> last_problem;
    uint64_t token_rx_count = 0;  // passive mode
    uint64_t mcast_rx_count = 0;
    std::string text;
    uint64_t tx = 0, rx = 0, rx_duplicates = 0, faulty_marked = 0, recovered = 0;
    // Automatic recovery.
    uint64_t probe_round = 0;
    std::set<NodeId> replied;  // to probe_round
    int clean_rounds = 0;
  };
  // Active mode: a token seen on some ring, waiting for its copies.
  struct TokenWatch {
    std::string key;  // sender, kind, ring id and seq of the token
    uint64_t seqid = 0;
    std::set<int> rings;
    absl::Time deadline;
  };
  struct Seen {
    uint64_t rings = 0;  // bit per ring
    absl::Time first;
  };

  void HandleControl(absl::Time now, int ring, const RrpControl& control);
  void HandleTotem(absl::Time now, int ring, const wire::Packet& packet);
  bool IsDuplicate(absl::Time now, int ring, const wire::Packet& packet);
  void WatchToken(absl::Time now, int ring, const wire::Packet& packet);
  void PassiveMonitor(absl::Time now, int ring, bool token);
  void TokenExpired(const TokenWatch& watch);
  void DecrementProblems(absl::Time now);
  void CheckRecovery(absl::Time now);
  void MarkFaulty(absl::Time now, int ring, const std::string& why);
  void PutBack(int ring, const std::string& why);
  void SendActivate(int ring);
  int WorkingRings() const;
  int NextRing(int& turn) const;
  std::vector<NodeId> Others() const;
  RrpEffects Take();

  const RrpOptions options_;
  std::vector<Ring> rings_;
  RrpEffects effects_;
  int token_turn_ = 0;
  int mcast_turn_ = 0;
  std::deque<TokenWatch> watches_;
  // Keys of watches that expired lately: a retransmission of such a token (the predecessor
  // resends it every token_retransmit, which is also the default rrp_token_expired_timeout) that
  // arrives on one ring just after the watch expired starts no new watch, or its copy on the other
  // ring, read a moment later, would count as missing.
  std::deque<std::string> expired_keys_;
  std::map<std::pair<NodeId, size_t>, Seen> seen_;  // active: (sender, hash) of packets
  std::deque<std::pair<absl::Time, std::pair<NodeId, size_t>>> seen_order_;
  std::optional<absl::Time> decrement_at_;
  std::optional<absl::Time> recovery_check_at_;
  std::set<NodeId> heard_;  // peers heard from on any ring since the last recovery check
};

}  // namespace ha::membership
