// Totem cores over the redundant ring layer (membershipd/rrp.h) in the deterministic simulator
// style: N nodes, each a TotemCore above a RedundantRings, on one simulated clock, joined by R
// simulated networks (rings) that each drop, go down and come back on their own. Every choice
// comes from one seeded generator, so a seed replays exactly. It records what every node handed
// up, and the ring layer's log lines and state changes with their simulated times.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "membershipd/rrp.h"
#include "membershipd/totem_core.h"

namespace ha::sim {

using membership::NodeId;

struct RingFaults {
  bool down = false;  // drops everything
  double drop = 0.0;  // probability a packet to one destination is lost
};

struct RrpNodeRecord {
  std::vector<std::string> delivered;  // payloads, in order
  std::vector<std::pair<absl::Time, membership::ConfigChange>> configs;
  std::vector<std::pair<absl::Time, std::string>> rrp_log;
  std::vector<std::pair<absl::Time, membership::RingStateChange>> changes;
};

class RrpSim {
 public:
  // Node i has address "10.<ring>.0.<i>" on each ring. `rrp`'s local_id, nodes and ring_addrs are
  // filled in per node.
  RrpSim(int node_count,
         int ring_count,
         uint64_t seed,
         membership::TotemOptions totem,
         membership::RrpOptions rrp);

  absl::Time now() const { return now_; }
  const std::vector<NodeId>& nodes() const { return nodes_; }
  void SetRingFaults(int ring, RingFaults faults) { faults_.at(ring) = faults; }

  // Submits a message at `node`; its payload is unique. "" when the core refused it.
  std::string Submit(NodeId node);
  // corosync-cfgtool -r at `node`.
  void Reenable(NodeId node);

  void RunUntil(absl::Time until);
  void RunFor(absl::Duration d) { RunUntil(now_ + d); }

  const membership::TotemCore& core(NodeId node) const { return *nodes_state_.at(node).core; }
  const membership::RedundantRings& rrp(NodeId node) const { return *nodes_state_.at(node).rrp; }
  const RrpNodeRecord& record(NodeId node) const { return nodes_state_.at(node).record; }
  const std::vector<std::string>& submitted() const { return submitted_; }

 private:
  struct Node {
    std::unique_ptr<membership::TotemCore> core;
    std::unique_ptr<membership::RedundantRings> rrp;
    RrpNodeRecord record;
  };
  struct InFlight {
    absl::Time at;
    uint64_t order;
    NodeId to;
    int ring;
    membership::RingPacket packet;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  void ApplyCore(NodeId node, membership::Effects effects);
  void ApplyRings(NodeId node, membership::RrpEffects effects);

  std::mt19937_64 random_;
  absl::Time now_;
  std::vector<NodeId> nodes_;
  std::vector<RingFaults> faults_;
  std::map<NodeId, Node> nodes_state_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> in_flight_;
  uint64_t order_ = 0;
  std::map<NodeId, int> submit_counter_;
  std::vector<std::string> submitted_;
  bool trace_ = false;  // HA_TOTEM_TRACE set: log lines go to stderr
};

}  // namespace ha::sim
