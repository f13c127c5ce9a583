// Test support: FencingCluster members on one simulated clock (fencing_sim.h's World) and an
// agreed-order bus like membershipd's process groups: a multicast is ordered 1-30 ms after it is
// sent (dropped when its sender left meanwhile) and delivered to the members of that moment, each
// at its own pace but in the one order; a view change is ordered the same way. Agent runs are
// decided by the test, as in fencing_sim.h. A node that learns it was fenced (FencedSelf) stops
// as the daemon's stack does: it leaves the bus and handles nothing more. Isolate and Heal split
// a member from the others and merge it back with the same session (a partition that heals).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "stonithd/fencing_cluster.h"
#include "stonithd/fencing_sim.h"

namespace ha::stonithd::sim {

class ClusterNode;

class Bus {
 public:
  Bus(World& world, uint64_t seed) : world_(world), rng_(seed) {}
  void Join(ClusterNode* node);
  void Leave(const GroupMember& member);
  // `node` alone on its side (it sees a view of itself, the others a view without it); its
  // multicasts go nowhere until Heal puts it back in the others' views, session unchanged.
  void Isolate(ClusterNode* node);
  void Heal(ClusterNode* node);
  void Send(const GroupMember& from, std::string payload);
  absl::Duration Uniform(int64_t lo_ms, int64_t hi_ms) {
    return absl::Milliseconds(std::uniform_int_distribution<int64_t>(lo_ms, hi_ms)(rng_));
  }

 private:
  void Order(std::function<void(ClusterNode*)> deliver);

  World& world_;
  std::mt19937_64 rng_;
  std::map<GroupMember, ClusterNode*> members_;
  std::map<GroupMember, absl::Time> last_;
};

class ClusterNode {
 public:
  using Agent = std::function<AgentReply(const RunAgent&)>;

  ClusterNode(World& world, Bus& bus, GroupMember id, FencingClusterOptions options, Agent agent)
      : world_(world),
        bus_(bus),
        id_(id),
        name_(options.core.local_node),
        cluster_(std::move(options)),
        agent_(std::move(agent)) {}

  FencingCluster& cluster() { return cluster_; }
  const FencingCluster& cluster() const { return cluster_; }
  const GroupMember& id() const { return id_; }
  const std::string& name() const { return name_; }
  bool alive() const { return alive_; }
  void Kill() { alive_ = false; }
  // Set when the node learned it was fenced and stopped (its stack's fatal exit).
  const std::optional<FencedSelf>& fenced() const { return fenced_; }

  void Feed(ClusterEvent event) {
    if (!alive_) {
      return;
    }
    ClusterEffects fx = cluster_.Handle(std::move(event), Now{world_.now(), world_.now()});
    Apply(fx.effects);
    for (std::string& payload : fx.multicasts) {
      bus_.Send(id_, std::move(payload));
    }
    if (fx.fenced_self.has_value()) {
      fenced_ = std::move(fx.fenced_self);
      alive_ = false;
      bus_.Leave(id_);
    }
  }

  const std::vector<RunAgent>& runs() const { return runs_; }
  // The runs cancelled while they ran (their agent killed).
  const std::vector<int64_t>& cancelled() const { return cancelled_; }
  const std::vector<FenceRecord>& changes() const { return changes_; }
  const FenceRecord* Last(const std::string& id) const {
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
      if (it->id == id) {
        return &*it;
      }
    }
    return nullptr;
  }

 private:
  void Apply(const Effects& effects) {
    for (const Effect& effect : effects) {
      if (const auto* arm = std::get_if<ArmTimer>(&effect)) {
        uint64_t gen = ++timer_gen_[arm->key];
        TimerKey key = arm->key;
        world_.At(world_.now() + arm->after, [this, key, gen] {
          if (timer_gen_[key] == gen) {
            Feed(TimerFired{key});
          }
        });
      } else if (const auto* cancel = std::get_if<CancelTimer>(&effect)) {
        ++timer_gen_[cancel->key];
      } else if (const auto* run = std::get_if<RunAgent>(&effect)) {
        StartRun(*run);
      } else if (const auto* cancel_run = std::get_if<CancelRun>(&effect)) {
        int64_t id = cancel_run->run_id;
        if (outstanding_.count(id) > 0) {
          cancelled_.push_back(id);
        }
        world_.At(world_.now(), [this, id] { Finish(id, lrmd::ExecStatus::kCancelled, -1, ""); });
      } else if (const auto* changed = std::get_if<OperationChanged>(&effect)) {
        changes_.push_back(changed->record);
      }
    }
  }

  void StartRun(const RunAgent& run) {
    runs_.push_back(run);
    outstanding_.insert(run.run_id);
    AgentReply reply = agent_(run);
    int64_t id = run.run_id;
    if (reply.duration > run.timeout) {
      world_.At(world_.now() + run.timeout,
                [this, id] { Finish(id, lrmd::ExecStatus::kTimedOut, -1, "timed out"); });
      return;
    }
    world_.At(world_.now() + reply.duration, [this, id, reply] {
      Finish(id, lrmd::ExecStatus::kDone, reply.exit_code, reply.stderr_reason);
    });
  }

  void Finish(int64_t id, lrmd::ExecStatus status, int exit_code, const std::string& reason) {
    if (outstanding_.erase(id) == 0) {
      return;
    }
    FenceResult result;
    result.status = status;
    result.exit_code = exit_code;
    result.reason = reason;
    for (const RunAgent& run : runs_) {
      if (run.run_id == id) {
        result.action = run.action;
      }
    }
    if (result.reason.empty() && !result.ok()) {
      result.reason = "agent failed";
    }
    Feed(AgentFinished{id, result});
  }

  World& world_;
  Bus& bus_;
  GroupMember id_;
  std::string name_;
  FencingCluster cluster_;
  Agent agent_;
  bool alive_ = true;
  std::optional<FencedSelf> fenced_;
  std::map<TimerKey, uint64_t> timer_gen_;
  std::set<int64_t> outstanding_;
  std::vector<RunAgent> runs_;
  std::vector<int64_t> cancelled_;
  std::vector<FenceRecord> changes_;
};

inline void Bus::Join(ClusterNode* node) {
  world_.At(world_.now(), [node] { node->Feed(GroupJoined{node->id()}); });
  members_[node->id()] = node;
  std::vector<GroupMember> view;
  for (const auto& [member, n] : members_) {
    view.push_back(member);
  }
  Order([view](ClusterNode* n) { n->Feed(GroupView{view}); });
}

inline void Bus::Leave(const GroupMember& member) {
  if (members_.erase(member) == 0) {
    return;
  }
  std::vector<GroupMember> view;
  for (const auto& [m, n] : members_) {
    view.push_back(m);
  }
  Order([view](ClusterNode* n) { n->Feed(GroupView{view}); });
}

inline void Bus::Isolate(ClusterNode* node) {
  Leave(node->id());
  const GroupMember self = node->id();
  absl::Time at = std::max(world_.now() + Uniform(0, 20), last_[self]);
  last_[self] = at;
  world_.At(at, [node, self] { node->Feed(GroupView{{self}}); });
}

inline void Bus::Heal(ClusterNode* node) {
  members_[node->id()] = node;
  std::vector<GroupMember> view;
  for (const auto& [member, n] : members_) {
    view.push_back(member);
  }
  Order([view](ClusterNode* n) { n->Feed(GroupView{view}); });
}

inline void Bus::Send(const GroupMember& from, std::string payload) {
  world_.At(world_.now() + Uniform(1, 30), [this, from, payload = std::move(payload)] {
    if (members_.count(from) == 0) {
      return;
    }
    Order([from, payload](ClusterNode* n) { n->Feed(GroupDelivered{from, payload}); });
  });
}

inline void Bus::Order(std::function<void(ClusterNode*)> deliver) {
  for (const auto& [member, node] : members_) {
    absl::Time at = std::max(world_.now() + Uniform(0, 20), last_[member]);
    last_[member] = at;
    world_.At(at, [node, deliver] { deliver(node); });
  }
}

}  // namespace ha::stonithd::sim
