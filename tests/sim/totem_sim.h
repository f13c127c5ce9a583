// A deterministic simulation of a totem cluster in one process: N protocol cores on one simulated
// clock and a simulated network that drops, duplicates, delays (and so reorders) and partitions,
// with nodes killed and restarted. Every choice comes from one seeded generator, so a seed replays
// exactly. It records what every node incarnation delivered, for the invariant checks in
// totem_invariants.h.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "membershipd/totem_core.h"

namespace ha::sim {

using membership::NodeId;
using membership::RingId;

struct NetworkFaults {
  double drop = 0.0;       // probability a packet to one destination is lost
  double duplicate = 0.0;  // probability it arrives twice
  absl::Duration min_delay = absl::Microseconds(50);
  absl::Duration max_delay = absl::Microseconds(500);  // uniform: packets overtake each other
  // A packet to a dead node comes back as "port unreachable" (ICMP), like the kernel's.
  bool unreachable_signal = false;
};

// Loss on one direction of one link, on top of NetworkFaults: `to` does not hear `from` (with
// probability `drop`), while `from` may still hear `to`. With `messages_only`, only the ring's
// messages are lost (tokens, joins and the rest get through), like a link whose MTU lets small
// packets pass and drops big ones: what fail_recv_const is for.
struct LinkFault {
  NodeId from = 0;
  NodeId to = 0;
  double drop = 1.0;
  bool messages_only = false;
};

// One thing a node incarnation handed to the layer above.
struct Recorded {
  enum Kind { kDelivery, kConfig } kind = kDelivery;
  RingId ring_id;       // delivery: the ring it came in; config: the new ring
  std::string payload;  // delivery
  NodeId origin = 0;    // delivery
  bool safe = false;    // delivery: asked for safe order
  // delivery: handed up at a configuration change (the old ring's remainder, totem_core.h
  // deviation 3), just before the change itself
  bool transitional = false;
  std::vector<NodeId> members;  // config
  absl::Time at;
};

struct Incarnation {
  NodeId node = 0;
  int number = 0;  // 0 for the first run of the node, then 1, 2, ...
  std::vector<Recorded> history;
  // Its own messages (payload) -> the ring it first multicast them in.
  std::map<std::string, RingId> multicast_in;
  // The rings whose transition discarded old-ring messages at this incarnation (totem_core.h,
  // deviation 3): its own messages multicast in them may be lost.
  std::set<RingId> discarded_from;
  std::string Name() const;
};

class TotemSim {
 public:
  TotemSim(int node_count, uint64_t seed, membership::TotemOptions base);

  absl::Time now() const { return now_; }
  std::mt19937_64& random() { return random_; }
  const std::vector<NodeId>& nodes() const { return nodes_; }

  void SetFaults(NetworkFaults faults) { faults_ = faults; }
  // Only nodes in the same group reach each other; nodes in no group reach nobody.
  void Partition(const std::vector<std::vector<NodeId>>& groups);
  void Heal();
  // One-way loss on a link, kept until ClearLinkFaults (Heal leaves them).
  void AddLinkFault(LinkFault fault) { link_faults_.push_back(fault); }
  void ClearLinkFaults() { link_faults_.clear(); }
  // Stops `node` for `d` like SIGSTOP: no timer fires and no packet is handled until then; the
  // packets that arrive meanwhile wait (in order) and are handled when it resumes.
  void Pause(NodeId node, absl::Duration d);
  bool paused(NodeId node) const;
  void Kill(NodeId node);
  void Restart(NodeId node);
  // A graceful shutdown: the node sends its leave, then stops.
  void Leave(NodeId node);
  bool alive(NodeId node) const { return cores_.at(node) != nullptr; }
  std::vector<NodeId> AliveNodes() const;

  // Submits a message at `node` (if alive); its payload is unique: "<node>.<incarnation>.<n>".
  // Returns the payload, or "" when the node is dead or its queue is full.
  std::string Submit(NodeId node, bool safe = false);

  // For layers above the ring (tests/sim/group_sim.h). The observer sees everything a node hands
  // up, in order, as it is recorded; it may call SubmitPayloads.
  using Observer = std::function<void(NodeId node, const membership::Output& output)>;
  void SetObserver(Observer observer) { observer_ = std::move(observer); }
  // Sees every packet a node sends (before the network's faults), e.g. to count messages per
  // token visit.
  using Tap = std::function<void(NodeId from, const membership::Outgoing& packet)>;
  void SetTap(Tap tap) { tap_ = std::move(tap); }
  // Puts `packet` on the network to `to`, arriving after `delay` (e.g. a copy of an old packet
  // that the tap saw: a very late duplicate).
  void Inject(NodeId to, membership::wire::Packet packet, absl::Duration delay);
  // Submits each (payload, safe) at `node` as is, in order and one after the other (not recorded
  // in submitted()). Called from the observer, they wait until the outputs being observed have all
  // been handed up, then go at the same simulated time. A refused one counts in refused_submits().
  void SubmitPayloads(NodeId node, std::vector<std::pair<std::string, bool>> payloads);
  uint64_t refused_submits() const { return refused_submits_; }
  // Drops `node`'s messages not sent yet (in its core's queue, or waiting in SubmitPayloads) for
  // which `drop` is true (TotemCore::DropQueued); returns how many.
  size_t DropQueued(NodeId node, absl::FunctionRef<bool(const std::string& payload)> drop);

  // Runs every event up to `until`.
  void RunUntil(absl::Time until);
  void RunFor(absl::Duration d) { RunUntil(now_ + d); }

  const membership::TotemCore* core(NodeId node) const { return cores_.at(node).get(); }
  const std::vector<Incarnation>& incarnations() const { return incarnations_; }
  const std::set<std::string>& submitted() const { return submitted_; }
  // The current incarnation's index in incarnations() for a live node.
  size_t current_incarnation(NodeId node) const { return current_.at(node); }
  uint64_t packets_sent() const { return packets_sent_; }

 private:
  struct InFlight {
    absl::Time at;
    uint64_t order;  // ties broken by send order: deterministic
    NodeId to;
    membership::wire::Packet packet;
    NodeId unreachable = 0;  // set: not a packet, the signal that this node is unreachable
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  struct Deferred {
    NodeId node;
    std::string payload;
    bool safe;
  };

  void Apply(NodeId node, membership::Effects effects);
  absl::Status SubmitNow(NodeId node, std::string payload, bool safe);
  void RunDeferred();
  bool Connected(NodeId a, NodeId b) const;
  // Whether the link faults lose this packet from `from` to `to`.
  bool LinkDrops(NodeId from, NodeId to, const membership::wire::Packet& packet);
  membership::TotemOptions OptionsFor(NodeId node, uint64_t ring_seq);

  membership::TotemOptions base_;
  std::mt19937_64 random_;
  absl::Time now_;
  std::vector<NodeId> nodes_;
  NetworkFaults faults_;
  std::map<NodeId, int> group_of_;  // empty: fully connected
  std::map<NodeId, std::unique_ptr<membership::TotemCore>> cores_;
  std::map<NodeId, uint64_t> persisted_ring_seq_;
  std::map<NodeId, size_t> current_;
  std::map<NodeId, int> submit_counter_;
  std::vector<Incarnation> incarnations_;
  std::set<std::string> submitted_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> in_flight_;
  uint64_t order_ = 0;
  uint64_t packets_sent_ = 0;
  bool trace_ = false;  // HA_TOTEM_TRACE set: state transitions go to stderr
  Observer observer_;
  Tap tap_;
  std::vector<LinkFault> link_faults_;
  std::map<NodeId, absl::Time> paused_until_;
  std::map<NodeId, uint64_t> discarded_seen_;  // the core's old_ring_discarded, last looked at
  int apply_depth_ = 0;
  bool running_deferred_ = false;
  std::deque<Deferred> deferred_;
  uint64_t refused_submits_ = 0;
};

}  // namespace ha::sim
