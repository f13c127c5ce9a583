#include "tests/sim/totem_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ha::sim {

std::string Incarnation::Name() const {
  return absl::StrCat("node ", node, "#", number);
}

TotemSim::TotemSim(int node_count, uint64_t seed, membership::TotemOptions base)
    : base_(std::move(base)),
      random_(seed),
      now_(absl::UnixEpoch() + absl::Hours(1)),
      trace_(std::getenv("HA_TOTEM_TRACE") != nullptr) {
  for (int i = 1; i <= node_count; ++i) {
    nodes_.push_back(static_cast<NodeId>(i));
  }
  for (NodeId id : nodes_) {
    cores_[id] = nullptr;
    persisted_ring_seq_[id] = 0;
  }
  for (NodeId id : nodes_) {
    Restart(id);
  }
}

membership::TotemOptions TotemSim::OptionsFor(NodeId node, uint64_t ring_seq) {
  membership::TotemOptions options = base_;
  options.local_id = node;
  options.nodes = nodes_;
  options.initial_ring_seq = ring_seq;
  options.random_seed = random_();
  return options;
}

void TotemSim::Partition(const std::vector<std::vector<NodeId>>& groups) {
  if (trace_) {
    std::string text;
    for (const auto& g : groups) {
      text += " [" + absl::StrJoin(g, ",") + "]";
    }
    std::fprintf(stderr, "partition:%s\n", text.c_str());
  }
  group_of_.clear();
  for (NodeId id : nodes_) {
    group_of_[id] = -1;
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    for (NodeId id : groups[g]) {
      group_of_[id] = static_cast<int>(g);
    }
  }
}

void TotemSim::Heal() {
  if (trace_) {
    std::fprintf(stderr, "heal\n");
  }
  group_of_.clear();
}

void TotemSim::Inject(NodeId to, membership::wire::Packet packet, absl::Duration delay) {
  in_flight_.push(InFlight{now_ + delay, order_++, to, std::move(packet)});
}

void TotemSim::Pause(NodeId node, absl::Duration d) {
  if (trace_) {
    std::fprintf(stderr, "pause %u for %s\n", node, absl::FormatDuration(d).c_str());
  }
  paused_until_[node] = std::max(now_ + d, paused_until_[node]);
}

bool TotemSim::paused(NodeId node) const {
  auto it = paused_until_.find(node);
  return it != paused_until_.end() && now_ < it->second;
}

bool TotemSim::LinkDrops(NodeId from, NodeId to, const membership::wire::Packet& packet) {
  for (const LinkFault& f : link_faults_) {
    if (f.from != from || f.to != to || (f.messages_only && !packet.has_message()))
      continue;
    if (std::uniform_real_distribution<double>(0.0, 1.0)(random_) < f.drop)
      return true;
  }
  return false;
}

bool TotemSim::Connected(NodeId a, NodeId b) const {
  if (group_of_.empty()) {
    return true;
  }
  const int ga = group_of_.at(a);
  return ga >= 0 && ga == group_of_.at(b);
}

void TotemSim::Kill(NodeId node) {
  auto& core = cores_.at(node);
  if (core) {
    if (trace_) {
      std::fprintf(stderr, "kill %u\n", node);
    }
    persisted_ring_seq_[node] = core->max_ring_seq();
    core.reset();
    paused_until_.erase(node);
  }
}

void TotemSim::Leave(NodeId node) {
  auto& core = cores_.at(node);
  if (core) {
    Apply(node, core->Leave(now_));
    Kill(node);
  }
}

void TotemSim::Restart(NodeId node) {
  Kill(node);
  auto core = std::make_unique<membership::TotemCore>(OptionsFor(node, persisted_ring_seq_[node]));
  int number = 0;
  for (const auto& inc : incarnations_) {
    if (inc.node == node) {
      number = inc.number + 1;
    }
  }
  incarnations_.push_back(Incarnation{node, number, {}});
  current_[node] = incarnations_.size() - 1;
  cores_[node] = std::move(core);
  discarded_seen_[node] = 0;
  Apply(node, cores_[node]->Start(now_));
}

std::vector<NodeId> TotemSim::AliveNodes() const {
  std::vector<NodeId> out;
  for (NodeId id : nodes_) {
    if (cores_.at(id)) {
      out.push_back(id);
    }
  }
  return out;
}

std::string TotemSim::Submit(NodeId node, bool safe) {
  auto& core = cores_.at(node);
  if (!core) {
    return "";
  }
  const Incarnation& inc = incarnations_[current_.at(node)];
  std::string payload = absl::StrCat(node, ".", inc.number, ".", ++submit_counter_[node]);
  membership::Effects effects;
  if (!core->Submit(now_, payload, safe, effects).ok()) {
    return "";
  }
  submitted_.insert(payload);
  Apply(node, std::move(effects));
  return payload;
}

void TotemSim::SubmitPayloads(NodeId node, std::vector<std::pair<std::string, bool>> payloads) {
  for (auto& [payload, safe] : payloads) {
    deferred_.push_back(Deferred{node, std::move(payload), safe});
  }
  if (apply_depth_ == 0) {
    RunDeferred();
  }
}

size_t TotemSim::DropQueued(NodeId node, absl::FunctionRef<bool(const std::string& payload)> drop) {
  size_t dropped = 0;
  if (auto& core = cores_.at(node)) {
    dropped += core->DropQueued(drop);
  }
  const size_t before = deferred_.size();
  deferred_.erase(
      std::remove_if(deferred_.begin(),
                     deferred_.end(),
                     [&](const Deferred& d) { return d.node == node && drop(d.payload); }),
      deferred_.end());
  return dropped + before - deferred_.size();
}

absl::Status TotemSim::SubmitNow(NodeId node, std::string payload, bool safe) {
  auto& core = cores_.at(node);
  if (!core) {
    return absl::UnavailableError("the node is down");
  }
  membership::Effects effects;
  absl::Status status = core->Submit(now_, std::move(payload), safe, effects);
  Apply(node, std::move(effects));
  return status;
}

void TotemSim::RunDeferred() {
  if (running_deferred_) {
    return;
  }
  running_deferred_ = true;
  while (!deferred_.empty()) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    if (!SubmitNow(d.node, std::move(d.payload), d.safe).ok()) {
      ++refused_submits_;
    }
  }
  running_deferred_ = false;
}

void TotemSim::Apply(NodeId node, membership::Effects effects) {
  ++apply_depth_;
  Incarnation& inc = incarnations_[current_.at(node)];
  if (trace_) {
    for (const std::string& line : effects.log) {
      std::fprintf(stderr,
                   "%10.3f ms %s: %s\n",
                   absl::ToDoubleMilliseconds(now_ - (absl::UnixEpoch() + absl::Hours(1))),
                   inc.Name().c_str(),
                   line.c_str());
    }
  }
  // Deliveries before a configuration change in one batch are the old ring's remainder, handed up
  // at the transition (the core delivers nothing else in the call that installs a ring).
  size_t last_change = 0;
  bool has_change = false;
  for (size_t i = 0; i < effects.deliver.size(); ++i) {
    if (std::holds_alternative<membership::ConfigChange>(effects.deliver[i])) {
      last_change = i;
      has_change = true;
    }
  }
  if (has_change && cores_.at(node)) {
    const uint64_t discarded = cores_.at(node)->counters().old_ring_discarded;
    if (discarded != discarded_seen_[node]) {
      for (auto it = inc.history.rbegin(); it != inc.history.rend(); ++it) {
        if (it->kind == Recorded::kConfig) {
          inc.discarded_from.insert(it->ring_id);
          break;
        }
      }
    }
    discarded_seen_[node] = discarded;
  }
  for (size_t i = 0; i < effects.deliver.size(); ++i) {
    auto& out = effects.deliver[i];
    if (observer_) {
      observer_(node, out);
    }
    Recorded r;
    r.at = now_;
    if (auto* d = std::get_if<membership::Delivery>(&out)) {
      r.kind = Recorded::kDelivery;
      r.ring_id = d->ring_id;
      r.payload = std::move(d->payload);
      r.origin = d->origin;
      r.safe = d->safe;
      r.transitional = has_change && i < last_change;
    } else {
      auto& c = std::get<membership::ConfigChange>(out);
      r.kind = Recorded::kConfig;
      r.ring_id = c.ring_id;
      r.members = c.members;
    }
    inc.history.push_back(std::move(r));
  }
  for (const auto& out : effects.send) {
    if (tap_) {
      tap_(node, out);
    }
    const auto& packet = out.packet;
    if (packet.has_message() && !packet.message().has_recovered() &&
        packet.message().origin() == node) {
      const auto& id = packet.message().ring_id();
      inc.multicast_in.emplace(packet.message().payload(), RingId{id.rep(), id.seq()});
    }
  }
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const int64_t min_us = absl::ToInt64Microseconds(faults_.min_delay);
  const int64_t max_us = std::max(min_us, absl::ToInt64Microseconds(faults_.max_delay));
  std::uniform_int_distribution<int64_t> delay(min_us, max_us);
  for (auto& out : effects.send) {
    for (NodeId to : out.to) {
      ++packets_sent_;
      if (!Connected(node, to) || coin(random_) < faults_.drop || LinkDrops(node, to, out.packet)) {
        continue;
      }
      if (!cores_.at(to) && faults_.unreachable_signal) {
        in_flight_.push(InFlight{now_ + absl::Microseconds(delay(random_)) * 2,
                                 order_++,
                                 node,
                                 membership::wire::Packet{},
                                 to});
        continue;
      }
      const int copies = coin(random_) < faults_.duplicate ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        in_flight_.push(
            InFlight{now_ + absl::Microseconds(delay(random_)), order_++, to, out.packet});
      }
    }
  }
  if (--apply_depth_ == 0) {
    RunDeferred();
  }
}

void TotemSim::RunUntil(absl::Time until) {
  for (;;) {
    // The earliest of: a packet arrival, a node's timer.
    std::optional<absl::Time> next;
    NodeId timer_node = 0;
    for (NodeId id : nodes_) {
      const auto& core = cores_.at(id);
      if (!core) {
        continue;
      }
      auto deadline = core->NextDeadline();
      if (deadline && paused(id)) {
        deadline = std::max(*deadline, paused_until_.at(id));
      }
      if (deadline && (!next || *deadline < *next)) {
        next = deadline;
        timer_node = id;
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
      if (paused(flight.to)) {
        // It waits in the socket until the node resumes, behind what arrived before it.
        flight.at = paused_until_.at(flight.to);
        flight.order = order_++;
        in_flight_.push(std::move(flight));
        continue;
      }
      auto& core = cores_.at(flight.to);
      if (core && flight.unreachable != 0) {
        Apply(flight.to, core->OnPeerUnreachable(now_, flight.unreachable));
      } else if (core) {
        Apply(flight.to, core->OnPacket(now_, flight.packet));
      }
    } else {
      Apply(timer_node, cores_.at(timer_node)->OnTimer(now_));
    }
  }
}

}  // namespace ha::sim
