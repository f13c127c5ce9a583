#include "tests/sim/rrp_sim.h"

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/str_cat.h"

namespace ha::sim {

RrpSim::RrpSim(int node_count,
               int ring_count,
               uint64_t seed,
               membership::TotemOptions totem,
               membership::RrpOptions rrp)
    : random_(seed),
      now_(absl::UnixEpoch() + absl::Hours(1)),
      faults_(static_cast<size_t>(ring_count)),
      trace_(std::getenv("HA_TOTEM_TRACE") != nullptr) {
  for (int i = 1; i <= node_count; ++i)
    nodes_.push_back(static_cast<NodeId>(i));
  for (NodeId id : nodes_) {
    membership::TotemOptions t = totem;
    t.local_id = id;
    t.nodes = nodes_;
    t.random_seed = random_();
    membership::RrpOptions r = rrp;
    r.local_id = id;
    r.nodes = nodes_;
    r.ring_addrs.clear();
    for (int ring = 0; ring < ring_count; ++ring)
      r.ring_addrs.push_back(absl::StrCat("10.", ring, ".0.", id));
    Node& node = nodes_state_[id];
    node.core = std::make_unique<membership::TotemCore>(t);
    node.rrp = std::make_unique<membership::RedundantRings>(r);
  }
  for (NodeId id : nodes_)
    ApplyCore(id, nodes_state_[id].core->Start(now_));
}

std::string RrpSim::Submit(NodeId node) {
  std::string payload = absl::StrCat(node, ".", ++submit_counter_[node]);
  membership::Effects effects;
  if (!nodes_state_.at(node).core->Submit(now_, payload, false, effects).ok())
    return "";
  submitted_.push_back(payload);
  ApplyCore(node, std::move(effects));
  return payload;
}

void RrpSim::Reenable(NodeId node) {
  ApplyRings(node, nodes_state_.at(node).rrp->Reenable(now_));
}

void RrpSim::ApplyCore(NodeId node, membership::Effects effects) {
  Node& n = nodes_state_.at(node);
  for (auto& out : effects.deliver) {
    if (auto* d = std::get_if<membership::Delivery>(&out)) {
      n.record.delivered.push_back(std::move(d->payload));
    } else {
      n.record.configs.emplace_back(now_, std::get<membership::ConfigChange>(out));
    }
  }
  if (trace_) {
    for (const std::string& line : effects.log)
      std::fprintf(stderr, "%s node %u: %s\n", absl::FormatTime(now_).c_str(), node, line.c_str());
  }
  ApplyRings(node, n.rrp->Send(now_, effects.send));
}

void RrpSim::ApplyRings(NodeId node, membership::RrpEffects effects) {
  Node& n = nodes_state_.at(node);
  for (std::string& line : effects.log) {
    if (trace_)
      std::fprintf(
          stderr, "%s node %u rrp: %s\n", absl::FormatTime(now_).c_str(), node, line.c_str());
    n.record.rrp_log.emplace_back(now_, std::move(line));
  }
  for (auto& change : effects.changes)
    n.record.changes.emplace_back(now_, std::move(change));
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::uniform_int_distribution<int64_t> delay_us(50, 500);
  for (auto& send : effects.send) {
    const RingFaults& f = faults_.at(static_cast<size_t>(send.ring));
    for (NodeId to : send.to) {
      if (f.down || coin(random_) < f.drop)
        continue;
      in_flight_.push(InFlight{
          now_ + absl::Microseconds(delay_us(random_)), order_++, to, send.ring, send.packet});
    }
  }
  for (const membership::wire::Packet& packet : effects.deliver)
    ApplyCore(node, n.core->OnPacket(now_, packet));
}

void RrpSim::RunUntil(absl::Time until) {
  for (;;) {
    std::optional<absl::Time> next;
    NodeId timer_node = 0;
    for (NodeId id : nodes_) {
      const Node& n = nodes_state_.at(id);
      for (auto deadline : {n.core->NextDeadline(), n.rrp->NextDeadline()}) {
        if (deadline && (!next || *deadline < *next)) {
          next = deadline;
          timer_node = id;
        }
      }
    }
    const bool packet_first = !in_flight_.empty() && (!next || in_flight_.top().at <= *next);
    const absl::Time at = packet_first ? in_flight_.top().at : next.value_or(until);
    if (at > until || (!packet_first && !next)) {
      now_ = until;
      return;
    }
    now_ = std::max(now_, at);
    if (packet_first) {
      InFlight flight = in_flight_.top();
      in_flight_.pop();
      Node& n = nodes_state_.at(flight.to);
      ApplyRings(flight.to, n.rrp->OnPacket(now_, flight.ring, flight.packet));
    } else {
      Node& n = nodes_state_.at(timer_node);
      ApplyCore(timer_node, n.core->OnTimer(now_));
      ApplyRings(timer_node, n.rrp->OnTimer(now_));
    }
  }
}

}  // namespace ha::sim
